import { RegistryError } from '../errors/registry-error.js'

// Apart from upstream-client.ts so that a server without upstreams never loads undici (start-up time).
/** True for the errors after which a cached copy may still be served: the upstream could not answer, or refused. */
export function isUpstreamFailure(err: unknown): boolean {
  return err instanceof RegistryError && (err.code === 'UNAVAILABLE' || err.code === 'DENIED' || err.code === 'TOOMANYREQUESTS' || err.code === 'UNAUTHORIZED')
}
