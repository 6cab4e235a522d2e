// What `wharf --help` and `wharf <command> --help` print.

const COMMON = `  --config FILE    YAML configuration file (see config.example.yaml); env WHARF_CONFIG
  --storage DIR    data directory (default ./storage); env WHARF_STORAGE_PATH
  -h, --help       this help
`

export const USAGE = `Usage: wharf <command> [options]

Commands:
  serve    run the registry (default: http://127.0.0.1:5000, data under ./storage)
  gc       collect garbage offline (with no server on the storage): --grace, --dry-run, --json
  fsck     verify every blob's digest and size and every metadata reference: --repair, --json
  du       disk usage per repository (--tags: per tag), shared and reclaimable bytes: --json
  user     users of the htpasswd file: add, passwd, rm, list
  token    robot tokens for CI: create, list, revoke
  auth     token signing keys: rotate-key, retire-key --keep N | --older-than DURATION, keys
  export   download an image from a running registry as an oci-archive or docker-archive tar
  import   send an image archive (docker save, oci-archive, tarred OCI layout) to a running server

Options of every command:
${COMMON}
Run "wharf <command> --help" for a command's own options and examples.
`

export const COMMAND_HELP: Readonly<Record<string, string>> = {
  import: `Usage: wharf import FILE --repository NAME [--tag TAG ...] [options]

Streams an image archive to a running server (POST /_wharf/v1/repositories/NAME/import): what
\`docker save\`, \`podman save\`, \`skopeo copy ... oci-archive:FILE\` or \`tar -C layout -cf FILE .\`
make. Every image lands with its digests unchanged (a docker save archive before Docker 25 holds
no manifests: an OCI manifest is made for it); a failed import leaves nothing behind. Without
--tag the archive's own tags for NAME are set. Prints the imported digests.

Options:
  --repository NAME  where the images go (pull and push access needed)
  --tag TAG          tag to set (repeatable); the archive must then hold one image
  --url URL          the server (default http://127.0.0.1:5000); env WHARF_URL
  --username USER    log in as USER; the password from WHARF_PASSWORD, else asked on the terminal
  -h, --help         this help

Examples:
  docker save alpine:3.20 -o alpine.tar && wharf import alpine.tar --repository library/alpine
  skopeo copy docker://busybox oci-archive:busybox.tar && wharf import busybox.tar --repository busybox --tag 1.36 --url http://registry.lan:5000
`,
  serve: `Usage: wharf serve [options]

Runs the registry until SIGTERM or SIGINT, then lets requests in flight finish (30 s at most).
One server per data directory: a second one on the same directory is refused. With --workers N
it forks N worker processes that share the port and the store (a worker that dies is restarted).

Options:
  --host HOST      address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN); env WHARF_HTTP_HOST
  --port PORT      port to listen on (default 5000; 0 picks a free one); env WHARF_HTTP_PORT
  --workers N      processes serving on that port (default 1; auto: one per core); env WHARF_HTTP_WORKERS
${COMMON}
Every option of the configuration file can also be set as WHARF_<SECTION>_<OPTION>.
Logs are readable lines on a terminal and JSON lines otherwise (files, pipes, log collectors).

Examples:
  wharf serve --host 0.0.0.0 --port 5000 --storage /srv/wharf
  wharf serve --workers auto --storage /srv/wharf                    # every core serves
  WHARF_LOG_LEVEL=debug wharf serve --config config.yaml
  WHARF_HTTP_TLS_CERTIFICATE=fullchain.pem WHARF_HTTP_TLS_KEY=privkey.pem wharf serve --port 443   # HTTPS
`,
  export: `Usage: wharf export REF FILE [options]

Downloads an image from a running Wharf as a tar that docker load, podman load and
skopeo (oci-archive:FILE) read. REF is NAME:TAG or NAME@sha256:...; an index is exported whole.
FILE is written through a temporary file beside it and renamed once complete; "-" writes to
standard output. A progress bar shows on a terminal.

Options:
  --url URL        the registry (default http://127.0.0.1:5000); env WHARF_URL
  --format FORMAT  oci (an OCI image layout) or docker (the same plus manifest.json and
                   repositories, as docker save writes from Docker 25 on); default oci
  --platform P     with --format docker and an index: the image docker load gets (os/arch[/variant];
                   default linux/amd64 or the index's only image)
  --username USER  log in as USER; the password comes from env WHARF_PASSWORD or is asked for
  -h, --help       this help

Examples:
  wharf export library/alpine:3.20 alpine.tar && podman load -i alpine.tar
  wharf export --format docker --platform linux/arm64 --url http://nas:5000 app:1.4 app.tar
  WHARF_PASSWORD=... wharf export --username ci app@sha256:4f1c... - | docker load
`,
  gc: `Usage: wharf gc [options]

Collects garbage offline: unreferenced manifests, blob links and blobs, expired upload sessions,
and what the retention policies of the configuration remove. A collection is refused while a
server uses the storage (collect online with POST /_wharf/v1/gc); a dry run is safe beside it.
The report says what the grace period kept.

Options:
  --grace DURATION keep what was pushed or used more recently than this (default: gc.graceSeconds,
                   1h). Offline no push is in flight, so --grace 0 collects everything unreachable.
                   DURATION: seconds, or a number with s, m, h or d (30s, 10m, 1h, 2d)
  --dry-run        list what a collection would remove, remove nothing
  --json           print the report as JSON
${COMMON}
Examples:
  wharf gc --dry-run --storage /srv/wharf
  wharf gc --json --storage /srv/wharf
  wharf gc --grace 0 --storage /srv/wharf   # after deleting an image: free everything unreachable now
`,
  du: `Usage: wharf du [options]

Disk usage from the metadata: per repository its logical size (everything it references) and
exclusive size (what deleting it would free), bytes shared between repositories, and what garbage
collection would reclaim. Safe while a server runs.

Options:
  --tags           also list each tag's size
  --json           print the report as JSON
${COMMON}
Examples:
  wharf du --storage /srv/wharf
  wharf du --tags --json --storage /srv/wharf
`,
  fsck: `Usage: wharf fsck [options]

Re-hashes every blob and checks every metadata reference; exits 0 when the store is consistent and
1 when problems were found. Refused while a server uses the storage.

Options:
  --repair         remove what cannot be right: corrupt and orphan files, records of missing
                   blobs, dangling links and tags, broken upload sessions
  --json           print the report as JSON
${COMMON}
Examples:
  wharf fsck --storage /srv/wharf
  wharf fsck --repair --json --storage /srv/wharf
`,
  auth: `Usage: wharf auth [options] rotate-key | retire-key | keys

The keys Wharf signs its bearer tokens with (ES256), in <auth dir>/keys/ (auth.directory, by
default <storage>/auth/keys). The first key is made when a server first starts; the newest key
signs and every key present verifies, so servers sharing the directory accept each other's tokens.
Safe while servers run: they notice a change within a second.

Actions:
  rotate-key       add a new key and print its id; servers sign with it about two seconds later,
                   tokens signed with older keys stay valid until those keys are retired
  retire-key       remove older keys (never the newest) and print their ids; tokens they signed
                   are refused at once. Needs --keep, --older-than or both
  keys             list the keys: id, creation time, whether it signs

Options:
  --keep N         retire-key: keep the newest N keys (default 1)
  --older-than DURATION
                   retire-key: remove only keys made longer ago than this (30s, 10m, 1h, 90d);
                   wait at least the token lifetime (auth.token.expiresSeconds) after a rotation
${COMMON}
Examples:
  wharf auth rotate-key --storage /srv/wharf
  wharf auth retire-key --older-than 1h --storage /srv/wharf
  wharf auth retire-key --keep 1 --config config.yaml
  wharf auth keys --storage /srv/wharf
`,
  user: `Usage: wharf user add|passwd|rm NAME [options]
       wharf user list [options]

Manages the users of the htpasswd file (Apache's format, bcrypt entries: files made by
"htpasswd -B" work as they are). A running server sees changes within a second.
The password is read from standard input (--password-stdin) or asked twice on the terminal
without echo; never from the command line, where ps and shell history would keep it.

Actions:
  add NAME         add a user (refused if NAME exists)
  passwd NAME      change a user's password
  rm NAME          remove a user (tokens issued to NAME stop working too)
  list             the users; those whose hash is not bcrypt are marked: they cannot log in

Options:
  --htpasswd PATH  the htpasswd file (default: auth.htpasswd of --config); env WHARF_AUTH_HTPASSWD
  --password-stdin read the password from standard input (one trailing newline is dropped)
  --json           list: print the users as JSON
${COMMON}
Examples:
  wharf user add alice --htpasswd /etc/wharf/htpasswd
  printf '%s' "$PASSWORD" | wharf user add ci-bot --password-stdin --config config.yaml
  wharf user passwd alice --config config.yaml
  wharf user rm alice --config config.yaml
  wharf user list --json --config config.yaml
`,
  token: `Usage: wharf token create --name NAME --scope SCOPE [--scope SCOPE ...] [options]
       wharf token list [options]
       wharf token revoke NAME [options]

Robot tokens, for CI and other machines: a name, scopes and a secret. The secret is printed once,
alone on standard output, and only its hash is kept (in <auth dir>/robots.json; auth.directory,
default <storage>/auth). Log in with the robot's name as user and the secret as password. A running
server sees a revocation within a second.

Actions:
  create           a new robot token; prints its secret once
  list             name, creation, expiry and scopes of each token (never secrets)
  revoke NAME      remove a token: its secret stops working

Options:
  --name NAME      create: the robot's name (letters, digits, . _ -)
  --scope SCOPE    create: what it may do, repeatable: repository:GLOB:ACTIONS (pull, push, delete
                   or *; GLOB as in retention: team/*, public/**), registry:catalog:*, registry:admin:*
  --expires WHEN   create: a duration (30d, 12h) or a date (2027-01-31); default never
  --json           create, list: print JSON
${COMMON}
Examples:
  wharf token create --name ci --scope 'repository:team/*:pull,push' --expires 30d --config config.yaml
  wharf token create --name mirror --scope 'repository:**:pull' --scope 'registry:catalog:*' --storage /srv/wharf
  wharf token list --storage /srv/wharf
  wharf token revoke ci --storage /srv/wharf
`,
}
