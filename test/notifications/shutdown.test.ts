/**
 * Closing Wharf queues every event published before the close, before the metadata store closes
 * (the bus hands events to subscribers on later turns, and the enqueue is batched).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import t from 'tap'
import { compose } from '../../src/cli/composition.js'
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js'
import { systemContext } from '../../src/context/request-context.js'
import { SqliteMetadataStore } from '../../src/metadata/sqlite-metadata-store.js'
import type { ReceivedEvent } from './receiver.js'

t.test('events published right before close are in the queue after it', async (t) => {
  const storage = await mkdtemp(path.join(tmpdir(), 'wharf-hooks-close-'))
  t.teardown(() => rm(storage, { recursive: true, force: true }))
  const config: Config = {
    ...DEFAULT_CONFIG, storage: { ...DEFAULT_CONFIG.storage, path: storage },
    notifications: {
      endpoints: [{
        // Nothing listens on port 9 of loopback; delivery is not even started (no `serve`).
        name: 'hook', url: 'http://127.0.0.1:9/hook', headers: {}, timeoutSeconds: 1, actions: ['push', 'delete'], repositories: ['**'],
        backoffSeconds: 1, maxBackoffSeconds: 1,
      }],
    },
  }
  const wharf = await compose(config, { logger: () => pino({ level: 'silent' }) })
  const ctx = systemContext('test')
  const digests = Array.from({ length: 20 }, (_, i) => `sha256:${i.toString(16).padStart(64, '0')}`)
  for (const digest of digests) wharf.components.events.publish(ctx, { type: 'manifest.deleted', repo: 'closing/app', digest })
  wharf.components.events.publish(ctx, { type: 'repository.created', repo: 'not/sent' })
  await wharf.close()

  const store = new SqliteMetadataStore(path.join(storage, 'metadata.db'))
  t.teardown(() => store.close())
  const queued = await store.nextNotifications('hook', 100)
  const events = queued.map((entry) => JSON.parse(entry.event) as ReceivedEvent)
  t.same(events.map((e) => [e.action, e.target.digest]), digests.map((digest) => ['delete', digest]), 'all of them, in order')
  t.same(events[0]!.request, { id: ctx.requestId })
})
