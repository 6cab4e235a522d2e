/** Response and request header names of the distribution-spec, written once. */
export const Headers = {
  apiVersion: 'Docker-Distribution-API-Version',
  contentDigest: 'Docker-Content-Digest',
  uploadUuid: 'Docker-Upload-UUID',
  ociSubject: 'OCI-Subject',
  ociTag: 'OCI-Tag',
  ociFiltersApplied: 'OCI-Filters-Applied',
} as const

export const API_VERSION = 'registry/2.0'
