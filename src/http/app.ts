import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { AccessPolicy } from '../access/policy.js'
import { OPEN_POLICY } from '../access/rules-policy.js'
import type { Need } from '../access/scope.js'
import { OPEN_AUTHENTICATOR } from '../auth/authenticator.js'
import type { Authenticator, TokenService } from '../auth/parts.js'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError, isRegistryError, toErrorBody } from '../errors/registry-error.js'
import type { Registry } from '../registry/registry.js'
import { API_VERSION, Headers } from './headers.js'
import { Query } from './query.js'
import { guardBodyRate, type MinimumRate } from './body-rate.js'
import { ByteBudget } from './byte-budget.js'
import { sendJson } from './json-reply.js'
import { credentialsOf, requestContext, withSignal } from './request-context.js'
import { callerWithSession, requireCsrf, SAFE_METHODS, Sessions } from './session.js'
import { isUiPath, registerUiRoutes, sendUiNotFound, wantsHtml } from './routes/ui.js'
import { registerUiAdminRoutes } from './routes/ui-admin.js'
import { registerUiLoginRoutes } from './routes/ui-login.js'
import type { UiAccess } from './ui-support.js'
import { accessOfPath } from './access-table.js'
import { bearerChallenge, type ChallengeSettings } from './auth-challenge.js'
import { hasBody } from './request-body.js'
import { lingerAfterAnswer } from './lingering-close.js'
import { UploadLimiter } from './upload-limiter.js'
import { httpsServerOptions, logClientCertificate, watchTlsFiles, type SecureContextTarget, type TlsMaterial } from './tls.js'
import type { GcOptions } from '../gc/collector.js'
import { registerAdminRoutes } from './routes/admin.js'
import { registerImportRoute } from './routes/import.js'
import { ArchiveImporter } from '../transfer/importer.js'
import { registerBrowseRoutes } from './routes/browse.js'
import { registerNotificationRoutes } from './routes/notifications.js'
import type { NotificationStatsSource } from '../notifications/notifications.js'
import { registerHealthRoutes } from './routes/health.js'
import { registerMetricsRoute } from './routes/metrics.js'
import { observeRequests } from './request-metrics.js'
import type { Metrics } from '../metrics/metrics.js'
import { handleBlob } from './routes/blobs.js'
import { handleCatalog, handleReferrers, handleTags } from './routes/listings.js'
import { handleManifest } from './routes/manifests.js'
import { registerTokenRoutes } from './routes/token.js'
import { OciArchiveExporter } from '../transfer/exporter.js'
import { handleUpload, handleUploadStart } from './routes/uploads.js'
import { decodeSegment as segment, parseV2Path, splitUrl, unknownRoute, type V2Route } from './v2-path.js'
import { resolveProxied } from './proxy-names.js'

export interface AppOptions {
  readonly logger: Logger
  readonly logRequests: boolean
  readonly manifestMaxBytes: number
  readonly idleTimeoutMs: number
  readonly headersTimeoutMs: number
  readonly maxHeaderBytes: number
  readonly uploadsPerClient: number
  readonly uploadsTotal: number
  /** Request bodies (uploads, manifests) slower than this over `uploadMinRateGraceMs` are cut off (408); 0 or absent: never. */
  readonly uploadMinBytesPerSecond?: number
  readonly uploadMinRateGraceMs?: number
  /** Manifest bytes read, parsed and stored at once; more wait their turn. Default: 2 × manifestMaxBytes. */
  readonly manifestBytesInFlight?: number
  readonly gc: Omit<GcOptions, 'dryRun'>
  /**
   * HTTPS with these files (loaded and checked by loadTlsMaterial), reloaded when they change;
   * absent: plain HTTP. Requests then have `request.protocol === 'https'` (challenge realms).
   */
  readonly tls?: TlsMaterial
  /** How often the TLS files are looked at for a change; default TLS_RELOAD_INTERVAL_MS. */
  readonly tlsReloadIntervalMs?: number
  /** Who may do what; absent: open, as without an `auth` section (everyone anonymous, everything allowed). */
  readonly access?: AccessControl
  /** True once the server began shutting down: /readyz answers 503 from then on (serve.ts sets it on SIGTERM). */
  readonly shuttingDown?: () => boolean
  /**
   * Metrics: every request is reported to `collector`, and GET /metrics answers here when `route`
   * (false when they have their own address). Absent: metrics are off, no hook runs, /metrics is 404.
   */
  readonly metrics?: { readonly collector: Metrics; readonly route: boolean }
  /** Webhook delivery figures for GET /_wharf/v1/notifications; absent: no endpoints. */
  readonly notifications?: NotificationStatsSource
}

export interface AccessControl {
  readonly policy: AccessPolicy
  readonly authenticator: Authenticator
  /** Where a 401's challenge sends clients for a token. */
  readonly challenge: ChallengeSettings
  /** Wharf's own token endpoint (`/token`): the service that issues and verifies, and the `service` (aud) it issues for. */
  readonly tokens?: { readonly tokens: TokenService; readonly service: string }
}

const OPEN_ACCESS: AccessControl = { policy: OPEN_POLICY, authenticator: OPEN_AUTHENTICATOR, challenge: { service: 'wharf' } }

/** What the access check learnt about a request, for its handler and for a refusal's challenge. */
interface Guarded {
  readonly needs: readonly Need[]
  /** What a 401's challenge names: the needs and what the route also asks for. */
  readonly scope: readonly Need[]
  readonly route?: V2Route
  ctx?: RequestContext
  /** The refusal of a pull the mirror may serve under another name: thrown if the name stays. */
  deferred?: unknown
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const


/**
 * The HTTP layer: translates requests to Registry calls and results or RegistryErrors to
 * responses. Never listens; the caller does.
 */
export function buildApp(registry: Registry, options: AppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: !options.logRequests }),
    // Uploads of large layers may take as long as they take; stalled connections are still closed.
    requestTimeout: 0,
    connectionTimeout: options.idleTimeoutMs,
    keepAliveTimeout: 75_000,
    // Node checks header and request timeouts on this interval (30 s by default): check every second.
    ...(options.tls === undefined
      ? { http: { maxHeaderSize: options.maxHeaderBytes, connectionsCheckingInterval: 1000 } }
      : { https: { ...httpsServerOptions(options.tls), maxHeaderSize: options.maxHeaderBytes, connectionsCheckingInterval: 1000 } }),
    routerOptions: { maxParamLength: 4096, ignoreTrailingSlash: false },
    // Unique across restarts and processes (Fastify's default counts from 1): logs of several nodes can be merged.
    genReqId: () => randomUUID(),
    // Requests the router refuses before any handler (a malformed percent-encoding, say) still get the spec's JSON.
    frameworkErrors: (err, request, reply) => {
      const error = new RegistryError('UNSUPPORTED', { message: 'malformed request path', status: 400, cause: err })
      request.log.debug({ err, url: request.raw.url }, 'request refused by the router')
      void sendJson((reply as FastifyReply).code(error.status).header(Headers.apiVersion, API_VERSION), toErrorBody(error))
    },
  }) as unknown as FastifyInstance

  // Bodies are never parsed by Fastify: blob routes stream request.raw, manifest PUT reads it under a limit.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => done(null))

  app.server.headersTimeout = options.headersTimeoutMs
  if (options.tls !== undefined) serveTls(app, options.tls, options.logger, options.tlsReloadIntervalMs)

  // Node leaves a connection open while a response is stuck behind a client that stopped reading
  // (its own timeout only ends idle keep-alive connections): an explicit idle timer per connection.
  const guardedSockets = new WeakSet<Socket>()
  const inFlight = new WeakMap<Socket, { request: IncomingMessage; response: ServerResponse }>()
  keepCompleteRequestsOnClientError(app.server, inFlight)
  app.addHook('onRequest', async (request, reply) => {
    reply.header(Headers.apiVersion, API_VERSION)
    reply.header(Headers.requestId, request.id)
    const socket = request.raw.socket
    const exchange = { request: request.raw, response: reply.raw }
    inFlight.set(socket, exchange)
    reply.raw.once('close', () => { if (inFlight.get(socket) === exchange) inFlight.delete(socket) })
    if (options.idleTimeoutMs > 0) {
      socket.setTimeout(options.idleTimeoutMs)
      if (!guardedSockets.has(socket)) {
        guardedSockets.add(socket)
        socket.on('timeout', () => socket.destroy())
      }
    }
  })
  // Before the access check, so refused requests are counted too.
  if (options.metrics !== undefined) observeRequests(app, options.metrics.collector.http, (request) => guarded.get(request)?.route?.kind)

  // Every request to /v2/ and the admin API is authenticated and authorized here, from the one
  // table (access-table.ts), before any of its body is read: a refused request changes nothing.
  const access = options.access ?? OPEN_ACCESS
  // The UI's login session (session.ts): signed by the token service, so only with access control and one.
  const sessions = access.policy.enabled && access.tokens !== undefined ? new Sessions(access.tokens.tokens, access.tokens.service) : undefined
  const guarded = new WeakMap<FastifyRequest, Guarded>()
  app.addHook('onRequest', async (request, reply) => {
    const { path, query } = splitUrl(request.raw.url ?? '/')
    const needed = accessOfPath(request.method, path, query, (ns) => registry.proxy.isNamespace(ns))
    if (needed === undefined) return
    const state: Guarded = { needs: needed.needs, scope: [...needed.needs, ...needed.alsoAsks ?? []], ...(needed.route !== undefined ? { route: needed.route } : {}) }
    guarded.set(request, state)
    // The session cookie names the caller of the UI's JSON and admin APIs and of a DELETE under
    // /v2/ (the UI's delete); any change it authorizes must pass the CSRF checks (session.ts).
    const cookieAccepted = !(path === '/v2' || path.startsWith('/v2/')) || request.method === 'DELETE'
    const { caller, session } = await callerWithSession(request, access.authenticator, sessions, cookieAccepted)
    if (session !== undefined && !SAFE_METHODS.has(request.method)) requireCsrf(request, session)
    const ctx = requestContext(request, reply, caller)
    state.ctx = ctx
    if (access.policy.enabled && needed.login && ctx.caller.kind === 'anonymous') throw new RegistryError('UNAUTHORIZED')
    try {
      access.policy.authorize(ctx.caller, needed.needs)
    } catch (err) {
      // A pull the mirror upstream may serve needs pull on the name it reads: decided once it is known (proxy-names.ts).
      if (!registry.proxy.mayMirror(needed.route, request.method)) throw err
      state.deferred = err
    }
  })
  const contextOf = (request: FastifyRequest, reply: FastifyReply): RequestContext => guarded.get(request)?.ctx ?? requestContext(request, reply)

  const uploadLimiter = new UploadLimiter(options.uploadsPerClient, options.uploadsTotal)
  options.metrics?.collector.http.trackUploads(() => uploadLimiter.inProgress)
  const bodyRate: MinimumRate = { bytesPerSecond: options.uploadMinBytesPerSecond ?? 0, graceMs: options.uploadMinRateGraceMs ?? 0 }
  const manifestBudget = new ByteBudget(options.manifestBytesInFlight ?? 2 * options.manifestMaxBytes)

  const dispatch = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { path, query: rawQuery } = splitUrl(request.raw.url ?? '/')
    const query = new Query(rawQuery)
    let ctx = contextOf(request, reply)
    const requested = guarded.get(request)?.route ?? parseV2Path(path)
    const route = await resolveProxied(registry, ctx, requested, request.method, query, reply)
    if (guarded.get(request)?.deferred !== undefined && !('name' in route && 'name' in requested && route.name !== requested.name)) throw guarded.get(request)!.deferred
    // A body under the minimum rate is cut off: the request's signal then aborts too (with the
    // 408), besides when the client leaves, so the registry stops whichever comes first.
    if ((route.kind === 'upload' || route.kind === 'uploads') && request.method !== 'GET' && request.method !== 'DELETE' && hasBody(request.raw)) {
      const release = uploadLimiter.acquire(request.ip)
      reply.raw.once('close', release)
      ctx = withSignal(ctx, guardBodyRate(request.raw, bodyRate, reply.raw))
    } else if (route.kind === 'manifest' && request.method === 'PUT' && hasBody(request.raw)) {
      ctx = withSignal(ctx, guardBodyRate(request.raw, bodyRate, reply.raw))
    }
    switch (route.kind) {
      case 'base':
        if (request.method !== 'GET' && request.method !== 'HEAD') throw unknownRoute()
        return sendJson(reply.code(200), {})
      case 'catalog':
        return handleCatalog(registry, ctx, query, request, reply)
      case 'tags':
        return handleTags(registry, ctx, route.name, query, request, reply)
      case 'manifest':
        return handleManifest(registry, ctx, route.name, segment(route.reference), query, request, reply, options.manifestMaxBytes, manifestBudget)
      case 'blob':
        return handleBlob(registry, ctx, route.name, segment(route.digest), request, reply)
      case 'uploads':
        return handleUploadStart(registry, ctx, route.name, query, request, reply)
      case 'upload':
        return handleUpload(registry, ctx, route.name, segment(route.id), query, request, reply)
      case 'referrers':
        return handleReferrers(registry, ctx, route.name, segment(route.digest), query, request, reply)
      case 'unknown':
        throw unknownRoute()
    }
  }
  app.route({ method: [...METHODS], url: '/v2', handler: dispatch })
  app.route({ method: [...METHODS], url: '/v2/*', handler: dispatch })

  registerBrowseRoutes(app, registry, new OciArchiveExporter(registry), contextOf)
  registerAdminRoutes(app, registry, options.gc, contextOf)
  registerImportRoute(app, { importer: new ArchiveImporter(registry, { manifestMaxBytes: options.manifestMaxBytes }), contextOf, uploadLimiter, bodyRate })
  registerNotificationRoutes(app, options.notifications)
  registerHealthRoutes(app, registry, options.shuttingDown !== undefined ? { shuttingDown: options.shuttingDown } : {})
  if (options.metrics?.route === true) registerMetricsRoute(app, options.metrics.collector)
  if (access.tokens !== undefined) {
    registerTokenRoutes(app, { authenticator: access.authenticator, policy: access.policy, ...access.tokens, credentials: credentialsOf })
  }

  const uiAccess: UiAccess = { policy: access.policy, authenticator: access.authenticator, ...(sessions !== undefined ? { sessions } : {}) }
  registerUiRoutes(app, registry.browser, uiAccess)
  registerUiAdminRoutes(app, registry, options.gc, uiAccess)
  registerUiLoginRoutes(app, uiAccess)

  app.setNotFoundHandler(async (request, reply) => {
    if (isUiPath(splitUrl(request.raw.url ?? '/').path) && wantsHtml(request)) return sendUiNotFound(request, reply, uiAccess)
    const error = unknownRoute()
    return sendJson(reply.code(error.status), toErrorBody(error))
  })

  app.setErrorHandler(async (err: FastifyError | Error, request, reply) => {
    const error = toRegistryError(err)
    if (error.status >= 500) request.log.error({ err, url: request.raw.url, method: request.method }, 'failed to serve request')
    else request.log.debug({ code: error.code, url: request.raw.url, method: request.method }, 'request refused')
    if (error.status === 416 && !reply.hasHeader('Content-Range')) {
      const detail = error.detail as { range?: string } | undefined
      if (detail?.range !== undefined) reply.header('Range', detail.range)
    }
    if (error.status === 401 && access.policy.enabled && !reply.hasHeader('WWW-Authenticate')) {
      const state = guarded.get(request)
      const invalidToken = (error.detail as { invalidToken?: unknown } | undefined)?.invalidToken === true
      const reason = invalidToken ? 'invalid_token' : state?.ctx?.caller.kind === 'bearer' ? 'insufficient_scope' : undefined
      reply.header('WWW-Authenticate', bearerChallenge(access.challenge, { scheme: request.protocol, host: request.headers.host }, state?.scope ?? [], reason))
    }
    const retryAfter = (error.detail as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds
    if (error.status === 429 && typeof retryAfter === 'number') reply.header('Retry-After', String(Math.max(1, Math.ceil(retryAfter))))
    // A body the handler did not read is not kept up with: the connection closes after the answer,
    // once what the client still sends was read and dropped (for a short while at most).
    if (!request.raw.complete) {
      reply.header('Connection', 'close')
      lingerAfterAnswer(request.raw)
    }
    return sendJson(reply.code(error.status), toErrorBody(error))
  })

  return app
}

/** Reloads the TLS files when they change; logs handshakes that fail and client certificates (debug). */
function serveTls(app: FastifyInstance, material: TlsMaterial, logger: Logger, reloadIntervalMs: number | undefined): void {
  const log = logger.child({ component: 'tls' })
  const watcher = watchTlsFiles(app.server as unknown as SecureContextTarget, material, log, reloadIntervalMs)
  app.addHook('onClose', async () => watcher.close())
  // Plain HTTP to the HTTPS port, an untrusting client, a scanner: the connection is closed.
  app.server.on('tlsClientError', (err: Error, socket: Duplex) => {
    log.debug({ code: (err as { code?: string }).code, remoteAddress: (socket as Socket).remoteAddress }, 'TLS handshake failed')
  })
  if (material.ca !== undefined) {
    const logged = new WeakSet<object>()
    app.addHook('onRequest', async (request) => logClientCertificate(request, logged))
  }
}

/**
 * Bytes that are no HTTP request, pipelined after a request that arrived whole, must not cost that
 * request: Node's parser fails on them and the default handling destroys the connection, and with
 * it the finished request's body the handler is still reading (an upload chunk would lose its
 * bytes). Such a request is served to the end; the connection closes after its response. Other
 * client errors keep the default handling (400, 408, 431, then close).
 */
function keepCompleteRequestsOnClientError(server: Server, inFlight: WeakMap<Socket, { request: IncomingMessage; response: ServerResponse }>): void {
  const defaults = server.listeners('clientError') as Array<(err: Error, socket: Duplex) => void>
  server.removeAllListeners('clientError')
  const closing = new WeakSet<Duplex>()
  server.on('clientError', (err: Error, socket: Duplex) => {
    if (closing.has(socket)) return
    const exchange = inFlight.get(socket as Socket)
    if (exchange !== undefined && exchange.request.complete && !socket.destroyed) {
      closing.add(socket)
      exchange.response.once('close', () => socket.destroy())
      return
    }
    for (const handler of defaults) handler.call(server, err, socket)
  })
}

/** Everything that is not already a RegistryError becomes one; internal details never reach clients. */
function toRegistryError(err: unknown): RegistryError {
  if (isRegistryError(err)) return err
  const code = (err as { code?: string }).code
  const statusCode = (err as { statusCode?: number }).statusCode
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new RegistryError('UNAVAILABLE', { message: 'insufficient storage', cause: err })
  }
  // PostgreSQL out of reach (a restart, a failover): temporary, and said so; the cause names the database, never the password.
  if (code === 'METADATA_UNAVAILABLE' || code === 'COORDINATION_UNAVAILABLE' || code === 'COORDINATION_LOCK_LOST') {
    return new RegistryError('UNAVAILABLE', { message: 'the database is unavailable, try again', cause: err })
  }
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ABORT_ERR') {
    return new RegistryError('BLOB_UPLOAD_INVALID', { message: 'request body ended early', cause: err })
  }
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return new RegistryError('UNSUPPORTED', { message: (err as Error).message, status: statusCode, cause: err })
  }
  return new RegistryError('UNKNOWN', { cause: err })
}
