// A private containers/* environment (skopeo, buildah, podman): vfs storage under a temp root,
// cgroupfs, file events, the registry marked insecure, an empty auth file and an accept-anything
// signature policy. Nothing is read from or written to the machine's own /var/lib/containers
// storage, except containers/image's shared blob-info cache (see conformance/README.md).
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { tempDir } from './proc.js'

export interface ContainersEnv {
  readonly dir: string
  readonly env: Readonly<Record<string, string>>
  /** Global flags for podman and buildah: private root, runroot and vfs. */
  readonly storageFlags: readonly string[]
  readonly policy: string
  remove(): Promise<void>
}

export async function containersEnv(registryAddresses: readonly string[]): Promise<ContainersEnv> {
  const dir = await tempDir('containers')
  const root = path.join(dir.path, 'root')
  const runroot = path.join(dir.path, 'runroot')
  const tmp = path.join(dir.path, 'tmp')
  await Promise.all([root, runroot, tmp].map((d) => mkdir(d, { recursive: true })))
  const registries = path.join(dir.path, 'registries.conf')
  const storage = path.join(dir.path, 'storage.conf')
  const containers = path.join(dir.path, 'containers.conf')
  const policy = path.join(dir.path, 'policy.json')
  const auth = path.join(dir.path, 'auth.json')
  await writeFile(registries, [
    'unqualified-search-registries = []',
    ...registryAddresses.flatMap((address) => ['', '[[registry]]', `location = "${address}"`, 'insecure = true']),
    '',
  ].join('\n'))
  await writeFile(storage, ['[storage]', 'driver = "vfs"', `graphroot = "${root}"`, `runroot = "${runroot}"`, ''].join('\n'))
  await writeFile(containers, [
    '[containers]',
    'netns = "none"',
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = "${path.join(dir.path, 'events.log')}"`,
    `image_copy_tmp_dir = "${tmp}"`,
    `tmp_dir = "${path.join(runroot, 'libpod')}"`,
    '',
  ].join('\n'))
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }))
  await writeFile(auth, '{"auths":{}}')
  return {
    dir: dir.path,
    env: {
      CONTAINERS_REGISTRIES_CONF: registries,
      CONTAINERS_STORAGE_CONF: storage,
      CONTAINERS_CONF: containers,
      REGISTRY_AUTH_FILE: auth,
      BUILDAH_ISOLATION: 'chroot',
      TMPDIR: tmp,
    },
    storageFlags: ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs'],
    policy,
    remove: () => dir.remove(),
  }
}
