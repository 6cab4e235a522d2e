import type { Grant } from './scope.js'

/**
 * Who asks. Without an `auth` section everyone is anonymous and may do everything; background
 * work (garbage collection, upload purges) runs as the system.
 */
export type Caller =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'system'; readonly job: string }
  /** A person: from the htpasswd file (Basic or a token issued to them) or a client certificate. */
  | { readonly kind: 'user'; readonly name: string; readonly via: 'password' | 'certificate' }
  /** A robot token (`wharf token create`): may do what its scopes say, nothing more. */
  | { readonly kind: 'robot'; readonly name: string; readonly scopes: readonly Grant[] }
  /**
   * A bearer token: may do what its `access` claim grants. `subject` is whom Wharf issued it to,
   * resolved again at every request (a removed user's or revoked robot's tokens stop working);
   * undefined for a token of a trusted external issuer, whose claim alone decides.
   */
  | { readonly kind: 'bearer'; readonly subject: Caller | undefined; readonly name: string; readonly access: readonly Grant[] }
