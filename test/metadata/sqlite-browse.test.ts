import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { SqliteMetadataStore } from '../../src/metadata/sqlite-metadata-store.js'
import { runBrowseContract } from './browse-contract.js'

t.test('Browse contract: SqliteMetadataStore', async (t) => {
  runBrowseContract(t, async (sub) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wharf-sqlite-browse-'))
    const store = new SqliteMetadataStore(path.join(dir, 'metadata.db'))
    sub.teardown(async () => {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    })
    return store
  })
})
