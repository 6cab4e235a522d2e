// Every observed difference between Wharf and the reference registry (Debian's docker-registry
// 2.8.2) in the differential scenario set, with the distribution-spec clause that makes Wharf's
// answer the right one. differential.test.ts fails on any difference not listed here, and on any
// listed difference that is no longer observed. Human-readable companion: differences.md.

export interface KnownDifference {
  /** Step id in differential.ts, or "*": the same difference (field and both values) at any step. */
  readonly step: string
  /** `status`, `body` or `header:<name>`. */
  readonly field: string
  /** Observed values (JSON-comparable); undefined = field absent. */
  readonly wharf?: unknown
  readonly reference?: unknown
  /** Clause of /work/shared/specs/distribution-spec.md that makes Wharf's answer right. */
  readonly clause: string
}

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    "step": "*",
    "field": "header:content-type",
    "wharf": "application/json",
    "reference": "application/json; charset=utf-8",
    "clause": "Every JSON answer (errors, /v2/, tags, catalog): Wharf sends application/json without parameters, as the spec asks of registries for manifests (Pulling manifests: \"The registry SHOULD NOT include parameters on the Content-Type header\") and as RFC 8259 §11 registers the type (\"No charset parameter is defined for this registration\"); the reference appends charset=utf-8. Listed once for every step (step \"*\")."
  },
  {
    "step": "unknown-route",
    "field": "header:content-type",
    "wharf": "application/json",
    "reference": "text/plain; charset=utf-8",
    "clause": "Error Codes: \"A 4XX response code from the registry MAY return a body in any format. If the response body is in JSON format, it MUST have the following format\" — Wharf answers every error, unknown routes included, in that JSON format (code-13 UNSUPPORTED); the same status, only the body format differs."
  },
  {
    "step": "unknown-route",
    "field": "body",
    "wharf": {
      "errorCodes": [
        "UNSUPPORTED"
      ]
    },
    "reference": {
      "nonJsonError": true
    },
    "clause": "Error Codes: \"A 4XX response code from the registry MAY return a body in any format. If the response body is in JSON format, it MUST have the following format\" — Wharf answers every error, unknown routes included, in that JSON format (code-13 UNSUPPORTED); the same status, only the body format differs."
  },
  {
    "step": "unknown-method",
    "field": "header:content-type",
    "wharf": "application/json",
    "reference": "text/plain; charset=utf-8",
    "clause": "Error Codes (as unknown-route): same status, Wharf uses the JSON error format with UNSUPPORTED (code-13)."
  },
  {
    "step": "unknown-method",
    "field": "body",
    "wharf": {
      "errorCodes": [
        "UNSUPPORTED"
      ]
    },
    "reference": {
      "nonJsonError": true
    },
    "clause": "Error Codes (as unknown-route): same status, Wharf uses the JSON error format with UNSUPPORTED (code-13)."
  },
  {
    "step": "invalid-name",
    "field": "status",
    "wharf": 400,
    "reference": 404,
    "clause": "Pulling manifests: \"<name> MUST match the following regular expression\"; Error Codes code-8 NAME_INVALID \"invalid repository name\" — a malformed name is a bad request (400), not an unknown resource."
  },
  {
    "step": "invalid-name",
    "field": "header:content-type",
    "wharf": "application/json",
    "reference": "text/plain; charset=utf-8",
    "clause": "Pulling manifests: \"<name> MUST match the following regular expression\"; Error Codes code-8 NAME_INVALID \"invalid repository name\" — a malformed name is a bad request (400), not an unknown resource."
  },
  {
    "step": "invalid-name",
    "field": "body",
    "wharf": {
      "errorCodes": [
        "NAME_INVALID"
      ]
    },
    "reference": {
      "nonJsonError": true
    },
    "clause": "Pulling manifests: \"<name> MUST match the following regular expression\"; Error Codes code-8 NAME_INVALID \"invalid repository name\" — a malformed name is a bad request (400), not an unknown resource."
  },
  {
    "step": "manifest-invalid-reference",
    "field": "header:content-type",
    "wharf": "application/json",
    "reference": "text/plain; charset=utf-8",
    "clause": "Pulling manifests: a reference that is neither a digest nor a tag ([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}) names no manifest: both answer 404 (the OCI conformance suite requires 404 for .INVALID_MANIFEST_NAME); Wharf answers it in the JSON error format with MANIFEST_UNKNOWN (Error Codes: \"If the response body is in JSON format, it MUST have the following format\"), the reference with its router's plain-text 404."
  },
  {
    "step": "manifest-invalid-reference",
    "field": "body",
    "wharf": {
      "errorCodes": [
        "MANIFEST_UNKNOWN"
      ]
    },
    "reference": {
      "nonJsonError": true
    },
    "clause": "Pulling manifests: a reference that is neither a digest nor a tag ([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}) names no manifest: both answer 404 (the OCI conformance suite requires 404 for .INVALID_MANIFEST_NAME); Wharf answers it in the JSON error format with MANIFEST_UNKNOWN (Error Codes: \"If the response body is in JSON format, it MUST have the following format\"), the reference with its router's plain-text 404."
  },
  {
    "step": "ooo-patch-gap",
    "field": "status",
    "wharf": 416,
    "reference": 202,
    "clause": "Pushing a blob in chunks: \"Chunks MUST be uploaded in order … If a chunk is uploaded out of order, the registry MUST respond with a 416 Requested Range Not Satisfiable code.\" The reference accepts the gap and appends the chunk at offset 1000 (Range 0-1999), silently corrupting the upload."
  },
  {
    "step": "ooo-patch-gap",
    "field": "header:content-type",
    "wharf": "application/json",
    "clause": "Pushing a blob in chunks: \"Chunks MUST be uploaded in order … If a chunk is uploaded out of order, the registry MUST respond with a 416 Requested Range Not Satisfiable code.\" The reference accepts the gap and appends the chunk at offset 1000 (Range 0-1999), silently corrupting the upload."
  },
  {
    "step": "ooo-patch-gap",
    "field": "header:range",
    "wharf": "0-999",
    "reference": "0-1999",
    "clause": "Pushing a blob in chunks: \"Chunks MUST be uploaded in order … If a chunk is uploaded out of order, the registry MUST respond with a 416 Requested Range Not Satisfiable code.\" The reference accepts the gap and appends the chunk at offset 1000 (Range 0-1999), silently corrupting the upload."
  },
  {
    "step": "ooo-patch-gap",
    "field": "header:location",
    "reference": "/v2/conformance/differential/diff/blobs/uploads/<upload-id>",
    "clause": "Pushing a blob in chunks: \"Chunks MUST be uploaded in order … If a chunk is uploaded out of order, the registry MUST respond with a 416 Requested Range Not Satisfiable code.\" The reference accepts the gap and appends the chunk at offset 1000 (Range 0-1999), silently corrupting the upload."
  },
  {
    "step": "ooo-patch-gap",
    "field": "header:content-length",
    "reference": "0",
    "clause": "Pushing a blob in chunks: \"Chunks MUST be uploaded in order … If a chunk is uploaded out of order, the registry MUST respond with a 416 Requested Range Not Satisfiable code.\" The reference accepts the gap and appends the chunk at offset 1000 (Range 0-1999), silently corrupting the upload."
  },
  {
    "step": "ooo-patch-gap",
    "field": "body",
    "wharf": {
      "errorCodes": [
        "RANGE_INVALID"
      ]
    },
    "reference": null,
    "clause": "Pushing a blob in chunks: \"Chunks MUST be uploaded in order … If a chunk is uploaded out of order, the registry MUST respond with a 416 Requested Range Not Satisfiable code.\" The reference accepts the gap and appends the chunk at offset 1000 (Range 0-1999), silently corrupting the upload."
  },
  {
    "step": "ooo-status",
    "field": "header:range",
    "wharf": "0-999",
    "reference": "0-1999",
    "clause": "Pushing a blob in chunks: \"To get the current status after a 416 error, issue a GET … Range: 0-<end-of-range>\" — the session still ends at 999 after Wharf's 416; the reference had appended the out-of-order chunk."
  },
  {
    "step": "upload-unknown",
    "field": "body",
    "wharf": {
      "errorCodes": [
        "BLOB_UPLOAD_UNKNOWN"
      ]
    },
    "reference": {
      "errorCodes": [
        "BLOB_UPLOAD_INVALID"
      ]
    },
    "clause": "Endpoints end-5 (PATCH fails with 404) and Error Codes code-3 BLOB_UPLOAD_UNKNOWN \"blob upload unknown to registry\"; the reference reports BLOB_UPLOAD_INVALID because its own _state parameter is missing."
  },
  {
    "step": "single-post",
    "field": "status",
    "wharf": 201,
    "reference": 202,
    "clause": "Single POST: \"Registries MAY support pushing blobs using a single POST request … Successful completion of the request MUST return a 201 Created and MUST include … Location: <blob-location>\". Wharf supports it (201); the reference does not and answers 202 + upload Location, which the same clause also allows."
  },
  {
    "step": "single-post",
    "field": "header:docker-content-digest",
    "wharf": "sha256:254edbf362c1996da80baba4a17415bd741da62beaf8478110496d909ee9a041",
    "clause": "Single POST: \"Registries MAY support pushing blobs using a single POST request … Successful completion of the request MUST return a 201 Created and MUST include … Location: <blob-location>\". Wharf supports it (201); the reference does not and answers 202 + upload Location, which the same clause also allows."
  },
  {
    "step": "single-post",
    "field": "header:location",
    "wharf": "/v2/conformance/differential/diff/blobs/sha256:254edbf362c1996da80baba4a17415bd741da62beaf8478110496d909ee9a041",
    "reference": "/v2/conformance/differential/diff/blobs/uploads/<upload-id>",
    "clause": "Single POST: \"Registries MAY support pushing blobs using a single POST request … Successful completion of the request MUST return a 201 Created and MUST include … Location: <blob-location>\". Wharf supports it (201); the reference does not and answers 202 + upload Location, which the same clause also allows."
  },
  {
    "step": "single-post",
    "field": "header:range",
    "reference": "0-0",
    "clause": "Single POST: \"Registries MAY support pushing blobs using a single POST request … Successful completion of the request MUST return a 201 Created and MUST include … Location: <blob-location>\". Wharf supports it (201); the reference does not and answers 202 + upload Location, which the same clause also allows."
  },
  {
    "step": "put-referrer",
    "field": "header:oci-subject",
    "wharf": "sha256:bda9618e35e8c5c5516ed5c9350837fe7360d9d0610fab2bcbae1523c3e5c3e9",
    "clause": "Pushing Manifests with Subject: \"a registry implementation that supports the referrers API MUST respond with the response header OCI-Subject: <subject digest>\"."
  },
  {
    "step": "put-multi-tag",
    "field": "header:oci-tag",
    "wharf": "multi-a, multi-b",
    "clause": "Pushing Manifests (end-7b): \"When pushing a manifest by digest, the registry MAY support the pushing of tags specified by addition of tag query parameters. If a registry supports this, it … MUST include an OCI-Tag response header … for each accepted tag.\" The reference ignores ?tag=."
  },
  {
    "step": "get-manifest-no-accept",
    "field": "status",
    "wharf": 200,
    "reference": 404,
    "clause": "Pulling manifests: \"A GET request to an existing manifest URL MUST provide the expected manifest, with a response code that MUST be 200 OK\" (Accept is only a client SHOULD). The reference 2.8 answers 404 MANIFEST_UNKNOWN for an OCI manifest unless Accept names the OCI type."
  },
  {
    "step": "get-manifest-no-accept",
    "field": "header:content-type",
    "wharf": "application/vnd.oci.image.manifest.v1+json",
    "reference": "application/json; charset=utf-8",
    "clause": "Pulling manifests: \"A GET request to an existing manifest URL MUST provide the expected manifest, with a response code that MUST be 200 OK\" (Accept is only a client SHOULD). The reference 2.8 answers 404 MANIFEST_UNKNOWN for an OCI manifest unless Accept names the OCI type."
  },
  {
    "step": "get-manifest-no-accept",
    "field": "header:docker-content-digest",
    "wharf": "sha256:bda9618e35e8c5c5516ed5c9350837fe7360d9d0610fab2bcbae1523c3e5c3e9",
    "clause": "Pulling manifests: \"A GET request to an existing manifest URL MUST provide the expected manifest, with a response code that MUST be 200 OK\" (Accept is only a client SHOULD). The reference 2.8 answers 404 MANIFEST_UNKNOWN for an OCI manifest unless Accept names the OCI type."
  },
  {
    "step": "get-manifest-no-accept",
    "field": "header:content-length",
    "wharf": "402",
    "clause": "Pulling manifests: \"A GET request to an existing manifest URL MUST provide the expected manifest, with a response code that MUST be 200 OK\" (Accept is only a client SHOULD). The reference 2.8 answers 404 MANIFEST_UNKNOWN for an OCI manifest unless Accept names the OCI type."
  },
  {
    "step": "get-manifest-no-accept",
    "field": "body",
    "wharf": {
      "sha256": "sha256:bda9618e35e8c5c5516ed5c9350837fe7360d9d0610fab2bcbae1523c3e5c3e9",
      "length": 402
    },
    "reference": {
      "errorCodes": [
        "MANIFEST_UNKNOWN"
      ]
    },
    "clause": "Pulling manifests: \"A GET request to an existing manifest URL MUST provide the expected manifest, with a response code that MUST be 200 OK\" (Accept is only a client SHOULD). The reference 2.8 answers 404 MANIFEST_UNKNOWN for an OCI manifest unless Accept names the OCI type."
  },
  {
    "step": "get-manifest-wildcard",
    "field": "status",
    "wharf": 200,
    "reference": 404,
    "clause": "Pulling manifests (as get-manifest-no-accept): Accept: */* accepts every type, so the manifest MUST be served with 200."
  },
  {
    "step": "get-manifest-wildcard",
    "field": "header:content-type",
    "wharf": "application/vnd.oci.image.manifest.v1+json",
    "reference": "application/json; charset=utf-8",
    "clause": "Pulling manifests (as get-manifest-no-accept): Accept: */* accepts every type, so the manifest MUST be served with 200."
  },
  {
    "step": "get-manifest-wildcard",
    "field": "header:docker-content-digest",
    "wharf": "sha256:bda9618e35e8c5c5516ed5c9350837fe7360d9d0610fab2bcbae1523c3e5c3e9",
    "clause": "Pulling manifests (as get-manifest-no-accept): Accept: */* accepts every type, so the manifest MUST be served with 200."
  },
  {
    "step": "get-manifest-wildcard",
    "field": "header:content-length",
    "wharf": "402",
    "clause": "Pulling manifests (as get-manifest-no-accept): Accept: */* accepts every type, so the manifest MUST be served with 200."
  },
  {
    "step": "get-manifest-wildcard",
    "field": "body",
    "wharf": {
      "sha256": "sha256:bda9618e35e8c5c5516ed5c9350837fe7360d9d0610fab2bcbae1523c3e5c3e9",
      "length": 402
    },
    "reference": {
      "errorCodes": [
        "MANIFEST_UNKNOWN"
      ]
    },
    "clause": "Pulling manifests (as get-manifest-no-accept): Accept: */* accepts every type, so the manifest MUST be served with 200."
  },
  {
    "step": "tags-list",
    "field": "body",
    "wharf": {
      "name": "conformance/differential/diff",
      "tags": [
        "docker",
        "index",
        "multi-a",
        "multi-b",
        "v1"
      ]
    },
    "reference": {
      "name": "conformance/differential/diff",
      "tags": [
        "v1",
        "docker",
        "index"
      ]
    },
    "clause": "Listing Tags: \"the tags MUST be in lexical … or ASCIIbetical order\" (the reference lists them unsorted); Wharf also lists multi-a and multi-b, created by the ?tag= PUT (end-7b) that the reference ignores."
  },
  {
    "step": "tags-n2",
    "field": "header:link",
    "wharf": "</v2/conformance/differential/diff/tags/list?n=2&last=index>; rel=\"next\"",
    "clause": "Listing Tags: with n, \"the response MUST include <int> results\" unless fewer exist or a Link header is provided; \"A Link header MAY be included … rel=\\\"next\\\"\". The reference ignores n."
  },
  {
    "step": "tags-n2",
    "field": "body",
    "wharf": {
      "name": "conformance/differential/diff",
      "tags": [
        "docker",
        "index"
      ]
    },
    "reference": {
      "name": "conformance/differential/diff",
      "tags": [
        "v1",
        "docker",
        "index"
      ]
    },
    "clause": "Listing Tags: with n, \"the response MUST include <int> results\" unless fewer exist or a Link header is provided; \"A Link header MAY be included … rel=\\\"next\\\"\". The reference ignores n."
  },
  {
    "step": "tags-n2-last",
    "field": "header:link",
    "wharf": "</v2/conformance/differential/diff/tags/list?n=2&last=multi-b>; rel=\"next\"",
    "clause": "Listing Tags: last returns \"up to <int> tags … beginning non-inclusively with <tagname>\", in lexical order. The reference ignores n and last."
  },
  {
    "step": "tags-n2-last",
    "field": "body",
    "wharf": {
      "name": "conformance/differential/diff",
      "tags": [
        "multi-a",
        "multi-b"
      ]
    },
    "reference": {
      "name": "conformance/differential/diff",
      "tags": [
        "v1",
        "docker",
        "index"
      ]
    },
    "clause": "Listing Tags: last returns \"up to <int> tags … beginning non-inclusively with <tagname>\", in lexical order. The reference ignores n and last."
  },
  {
    "step": "tags-n0",
    "field": "body",
    "wharf": {
      "name": "conformance/differential/diff",
      "tags": []
    },
    "reference": {
      "name": "conformance/differential/diff",
      "tags": [
        "v1",
        "docker",
        "index"
      ]
    },
    "clause": "Listing Tags: \"When n is zero, this endpoint MUST return an empty list, and MUST NOT include a Link header.\" The reference returns every tag."
  },
  {
    "step": "referrers",
    "field": "status",
    "wharf": 200,
    "reference": 404,
    "clause": "Listing Referrers: \"If the registry supports the referrers API, the registry MUST NOT return a 404 Not Found to a referrers API requests\" and lists each manifest with a subject, with artifactType and annotations. The reference (2.8) has no referrers API (404; clients fall back to the tag schema)."
  },
  {
    "step": "referrers",
    "field": "header:content-type",
    "wharf": "application/vnd.oci.image.index.v1+json",
    "reference": "text/plain; charset=utf-8",
    "clause": "Listing Referrers: \"If the registry supports the referrers API, the registry MUST NOT return a 404 Not Found to a referrers API requests\" and lists each manifest with a subject, with artifactType and annotations. The reference (2.8) has no referrers API (404; clients fall back to the tag schema)."
  },
  {
    "step": "referrers",
    "field": "body",
    "wharf": {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "digest": "sha256:f436530ff40435ea08e3d1e80afa24a860d18b16f7ba1d5a22c24465ee1d79b9",
          "size": 641,
          "artifactType": "application/vnd.example.sbom.v1",
          "annotations": {
            "org.example.k": "v"
          }
        }
      ]
    },
    "reference": {
      "nonJsonError": true
    },
    "clause": "Listing Referrers: \"If the registry supports the referrers API, the registry MUST NOT return a 404 Not Found to a referrers API requests\" and lists each manifest with a subject, with artifactType and annotations. The reference (2.8) has no referrers API (404; clients fall back to the tag schema)."
  },
  {
    "step": "referrers-filtered",
    "field": "status",
    "wharf": 200,
    "reference": 404,
    "clause": "Listing Referrers: \"If filtering is requested and applied, the response MUST include a header OCI-Filters-Applied: artifactType\"."
  },
  {
    "step": "referrers-filtered",
    "field": "header:content-type",
    "wharf": "application/vnd.oci.image.index.v1+json",
    "reference": "text/plain; charset=utf-8",
    "clause": "Listing Referrers: \"If filtering is requested and applied, the response MUST include a header OCI-Filters-Applied: artifactType\"."
  },
  {
    "step": "referrers-filtered",
    "field": "header:oci-filters-applied",
    "wharf": "artifactType",
    "clause": "Listing Referrers: \"If filtering is requested and applied, the response MUST include a header OCI-Filters-Applied: artifactType\"."
  },
  {
    "step": "referrers-filtered",
    "field": "body",
    "wharf": {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "digest": "sha256:f436530ff40435ea08e3d1e80afa24a860d18b16f7ba1d5a22c24465ee1d79b9",
          "size": 641,
          "artifactType": "application/vnd.example.sbom.v1",
          "annotations": {
            "org.example.k": "v"
          }
        }
      ]
    },
    "reference": {
      "nonJsonError": true
    },
    "clause": "Listing Referrers: \"If filtering is requested and applied, the response MUST include a header OCI-Filters-Applied: artifactType\"."
  },
  {
    "step": "delete-tag",
    "field": "status",
    "wharf": 202,
    "reference": 400,
    "clause": "Deleting tags: \"To delete a tag, perform a DELETE request to /v2/<name>/manifests/<tag> … Upon success, the registry MUST respond with a 202 Accepted code.\" The reference does not support tag deletion and answers 400 (allowed: \"400 Bad Request or 405 Method Not Allowed\")."
  },
  {
    "step": "delete-tag",
    "field": "header:content-length",
    "wharf": "0",
    "clause": "Deleting tags: \"To delete a tag, perform a DELETE request to /v2/<name>/manifests/<tag> … Upon success, the registry MUST respond with a 202 Accepted code.\" The reference does not support tag deletion and answers 400 (allowed: \"400 Bad Request or 405 Method Not Allowed\")."
  },
  {
    "step": "delete-tag",
    "field": "header:content-type",
    "reference": "application/json; charset=utf-8",
    "clause": "Deleting tags: \"To delete a tag, perform a DELETE request to /v2/<name>/manifests/<tag> … Upon success, the registry MUST respond with a 202 Accepted code.\" The reference does not support tag deletion and answers 400 (allowed: \"400 Bad Request or 405 Method Not Allowed\")."
  },
  {
    "step": "delete-tag",
    "field": "body",
    "wharf": null,
    "reference": {
      "errorCodes": [
        "DIGEST_INVALID"
      ]
    },
    "clause": "Deleting tags: \"To delete a tag, perform a DELETE request to /v2/<name>/manifests/<tag> … Upon success, the registry MUST respond with a 202 Accepted code.\" The reference does not support tag deletion and answers 400 (allowed: \"400 Bad Request or 405 Method Not Allowed\")."
  },
  {
    "step": "get-after-delete-tag",
    "field": "status",
    "wharf": 404,
    "reference": 200,
    "clause": "Deleting tags: \"Once deleted, a GET to /v2/<name>/manifests/<tag> will return a 404.\""
  },
  {
    "step": "get-after-delete-tag",
    "field": "header:content-type",
    "wharf": "application/json",
    "reference": "application/vnd.docker.distribution.manifest.v2+json",
    "clause": "Deleting tags: \"Once deleted, a GET to /v2/<name>/manifests/<tag> will return a 404.\""
  },
  {
    "step": "get-after-delete-tag",
    "field": "header:docker-content-digest",
    "reference": "sha256:c512ee31df4b29c5604e1e0765bdb4ac092d556b3b913ebf0b8e4b8a0d304976",
    "clause": "Deleting tags: \"Once deleted, a GET to /v2/<name>/manifests/<tag> will return a 404.\""
  },
  {
    "step": "get-after-delete-tag",
    "field": "header:content-length",
    "reference": "424",
    "clause": "Deleting tags: \"Once deleted, a GET to /v2/<name>/manifests/<tag> will return a 404.\""
  },
  {
    "step": "get-after-delete-tag",
    "field": "body",
    "wharf": {
      "errorCodes": [
        "MANIFEST_UNKNOWN"
      ]
    },
    "reference": {
      "sha256": "sha256:c512ee31df4b29c5604e1e0765bdb4ac092d556b3b913ebf0b8e4b8a0d304976",
      "length": 424
    },
    "clause": "Deleting tags: \"Once deleted, a GET to /v2/<name>/manifests/<tag> will return a 404.\""
  },
  {
    "step": "tags-after-deletes",
    "field": "body",
    "wharf": {
      "name": "conformance/differential/diff",
      "tags": [
        "index",
        "multi-a",
        "multi-b",
        "v1"
      ]
    },
    "reference": {
      "name": "conformance/differential/diff",
      "tags": [
        "v1",
        "index"
      ]
    },
    "clause": "Listing Tags (lexical order) and Deleting tags / Deleting Manifests: Wharf removed only the deleted tag; the list is sorted and includes the ?tag= tags the reference ignores."
  },
]

const CHALLENGE_CLAUSE = 'Not in the distribution-spec (it leaves authentication to the registry, "Error Codes" only defines UNAUTHORIZED). registry:2 in htpasswd mode challenges with Basic; Wharf challenges with Bearer and a token endpoint (the Docker token protocol, what registry:2 does in its `auth.token` mode and what Docker Hub, GitLab and Harbor do), because short-lived scoped tokens, refresh tokens (`docker login` stores one instead of the password) and offline verification by several nodes need it. Every client tested (docker, podman, skopeo, buildah, crane, oras, containerd, BuildKit) answers a Bearer challenge by asking the token endpoint with the same Basic credentials, and Basic sent directly still works on every route (step auth-base-basic). Parameter values are not compared: the realm names each server.'

/**
 * Differences in the 401 flow (differential-auth.test.ts): the reference in htpasswd mode vs
 * Wharf with the same htpasswd file. `header:www-authenticate` is reduced to the scheme and the
 * names of its parameters.
 */
export const AUTH_DIFFERENCES: readonly KnownDifference[] = [
  {
    step: '*',
    field: 'header:content-type',
    wharf: 'application/json',
    reference: 'application/json; charset=utf-8',
    clause: 'As the main set\'s step "*": Wharf sends application/json without parameters (RFC 8259 §11 defines none).',
  },
  { step: 'auth-base-anonymous', field: 'header:www-authenticate', wharf: 'Bearer realm,service', reference: 'Basic realm', clause: CHALLENGE_CLAUSE },
  { step: 'auth-base-wrong-password', field: 'header:www-authenticate', wharf: 'Bearer realm,service', reference: 'Basic realm', clause: CHALLENGE_CLAUSE },
  { step: 'auth-base-unknown-user', field: 'header:www-authenticate', wharf: 'Bearer realm,service', reference: 'Basic realm', clause: CHALLENGE_CLAUSE },
  {
    step: 'auth-manifest-anonymous',
    field: 'header:www-authenticate',
    wharf: 'Bearer realm,service,scope',
    reference: 'Basic realm',
    clause: `${CHALLENGE_CLAUSE} Wharf's challenge also names the scope the request needs (repository:<name>:pull), so that a client asks for exactly that.`,
  },
]
