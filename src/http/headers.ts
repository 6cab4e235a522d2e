/** Response and request header names of the distribution-spec, written once. */
export const Headers = {
  apiVersion: 'Docker-Distribution-API-Version',
  contentDigest: 'Docker-Content-Digest',
  uploadUuid: 'Docker-Upload-UUID',
  ociSubject: 'OCI-Subject',
  ociTag: 'OCI-Tag',
  ociFiltersApplied: 'OCI-Filters-Applied',
  /** The `ns` a pull was scoped by (distribution-spec, Registry Proxying). */
  ociNamespace: 'OCI-Namespace',
  /** The id of the request in the server's log lines and events. */
  requestId: 'X-Request-Id',
} as const

export const API_VERSION = 'registry/2.0'
