/**
 * The request context at the HTTP edge: every response names its request id, the server's log
 * lines of that request carry the same id, and ids are unique.
 */
import t from 'tap'
import { uniqueRepo, waitFor } from '../support/index.js'
import { startTestServer } from '../support/index.js'

const { wharf, client } = await startTestServer(t, { env: { WHARF_LOG_REQUESTS: 'true', WHARF_LOG_LEVEL: 'debug' } })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function linesOf(requestId: string): Array<{ msg?: string; reqId?: string }> {
  return wharf.logs.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; reqId?: string }
      return entry.reqId === requestId ? [entry] : []
    } catch {
      return []
    }
  })
}

t.test('X-Request-Id names the request in the log lines about it', async (t) => {
  const ok = await client.get('/v2/')
  const refused = await client.get(`/v2/${uniqueRepo('ctx')}/manifests/latest`)
  t.equal(ok.status, 200)
  t.equal(refused.status, 404)
  const okId = ok.header('x-request-id')!
  const refusedId = refused.header('x-request-id')!
  t.match(okId, UUID, 'a UUID, unique across restarts and nodes')
  t.match(refusedId, UUID)
  t.not(okId, refusedId, 'one id per request')
  const okLines = await waitFor('the completion line', async () => {
    const lines = linesOf(okId)
    return lines.some((l) => l.msg === 'request completed') ? lines : undefined
  })
  t.same(okLines.map((l) => l.msg), ['incoming request', 'request completed'])
  const refusedLines = await waitFor('the completion line', async () => {
    const lines = linesOf(refusedId)
    return lines.some((l) => l.msg === 'request completed') ? lines : undefined
  })
  t.same(refusedLines.map((l) => l.msg), ['incoming request', 'request refused', 'request completed'], 'the refusal is logged under the same id')
})

t.test('an error answer names its request too', async (t) => {
  const res = await client.request(`/v2/${uniqueRepo('ctx')}/blobs/uploads/`, { method: 'PUT' })
  t.ok(res.status >= 400 && res.status < 500, `refused (${res.status})`)
  t.match(res.header('x-request-id'), UUID)
})
