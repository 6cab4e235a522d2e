import t from 'tap'
import type { Caller } from '../../src/access/caller.js'
import { callerIdentity } from '../../src/access/identity.js'
import type { AccessRules } from '../../src/access/policy.js'
import { OPEN_POLICY, RulesPolicy } from '../../src/access/rules-policy.js'
import type { Action, Grant, Need, Resource } from '../../src/access/scope.js'
import { RegistryError } from '../../src/errors/registry-error.js'

const RULES: AccessRules = {
  groups: { team: ['pusher', 'carol'], ops: ['root'] },
  rules: [
    { repositories: '**', users: [], groups: ['ops'], actions: ['pull', 'push', 'delete', 'admin'] },
    { repositories: 'team/**', users: [], groups: ['team'], actions: ['pull', 'push'] },
    { repositories: 'team/**', users: ['reader'], groups: [], actions: ['pull'] },
    { repositories: 'team/*', users: ['carol'], groups: [], actions: ['delete'] },
    { repositories: '**', users: ['auditor'], groups: [], actions: ['admin'] },
  ],
  anonymous: [{ repositories: 'public/**', actions: ['pull'] }],
}
const policy = new RulesPolicy(RULES)

const repo = (name: string): Resource => ({ type: 'repository', name })
const CATALOG: Resource = { type: 'registry', name: 'catalog' }
const ADMIN: Resource = { type: 'registry', name: 'admin' }
const user = (name: string): Caller => ({ kind: 'user', name, via: 'password' })
const robot = (name: string, scopes: Grant[]): Caller => ({ kind: 'robot', name, scopes })
const bearer = (subject: Caller | undefined, access: Grant[]): Caller => ({ kind: 'bearer', subject, name: 'token', access })
const ANON: Caller = { kind: 'anonymous' }
const need = (resource: Resource, action: Action | '*'): Need => ({ resource, action })

/** What authorize throws: code, status, detail; 'allowed' when it does not. */
function decision(caller: Caller, needs: Need[]): unknown {
  try {
    policy.authorize(caller, needs)
    return 'allowed'
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err
    return { code: err.code, status: err.status, detail: err.detail }
  }
}

t.test('the open policy allows everything and grants what is asked', async (t) => {
  t.equal(OPEN_POLICY.enabled, false)
  t.equal(OPEN_POLICY.allows(ANON, repo('any/thing'), 'delete'), true)
  t.equal(OPEN_POLICY.allows(ANON, ADMIN, 'admin'), true)
  t.doesNotThrow(() => OPEN_POLICY.authorize(ANON, [need(ADMIN, '*'), need(repo('x'), 'push')]))
  t.same(OPEN_POLICY.grantable(ANON, [{ type: 'repository', name: 'x', actions: ['pull', 'push'] }]), [{ type: 'repository', name: 'x', actions: ['pull', 'push'] }])
})

t.test('users: the union of the rules naming them or their groups, plus the anonymous rules', async (t) => {
  t.equal(policy.enabled, true)
  const table: Array<[string, string, Action, boolean]> = [
    ['pusher', 'team/app', 'pull', true],
    ['pusher', 'team/app', 'push', true],
    ['pusher', 'team/deep/app', 'push', true],
    ['pusher', 'team/app', 'delete', false],
    ['pusher', 'other/app', 'pull', false],
    ['pusher', 'team', 'pull', false],
    ['pusher', 'public/base', 'pull', true],
    ['pusher', 'public/base', 'push', false],
    ['reader', 'team/app', 'pull', true],
    ['reader', 'team/app', 'push', false],
    ['carol', 'team/app', 'delete', true],
    ['carol', 'team/deep/app', 'delete', false],
    ['carol', 'team/deep/app', 'push', true],
    ['root', 'anything/at/all', 'delete', true],
    ['nobody', 'team/app', 'pull', false],
    ['nobody', 'public/x', 'pull', true],
    ['auditor', 'team/app', 'pull', false],
  ]
  for (const [name, repository, action, expected] of table) {
    t.equal(policy.allows(user(name), repo(repository), action), expected, `${name} ${action} ${repository}`)
  }
  t.equal(policy.allows({ kind: 'user', name: 'reader', via: 'certificate' }, repo('team/app'), 'pull'), true, 'a certificate user has the same rules')
})

t.test('admin: only a rule with admin; admin implies no repository action and no rule implies admin', async (t) => {
  t.equal(policy.allows(user('root'), ADMIN, 'admin'), true)
  t.equal(policy.allows(user('auditor'), ADMIN, 'admin'), true)
  t.equal(policy.allows(user('pusher'), ADMIN, 'admin'), false)
  t.equal(policy.allows(ANON, ADMIN, 'admin'), false)
  t.equal(decision(user('auditor'), [need(ADMIN, '*')]), 'allowed')
  t.match(decision(user('pusher'), [need(ADMIN, '*')]), { code: 'DENIED', status: 403, detail: [{ Type: 'registry', Name: 'admin', Action: '*' }] })
})

t.test('anonymous: the anonymous rules only; the catalog when they allow some pull', async (t) => {
  t.equal(policy.allows(ANON, repo('public/x'), 'pull'), true)
  t.equal(policy.allows(ANON, repo('public/x'), 'push'), false)
  t.equal(policy.allows(ANON, repo('team/x'), 'pull'), false)
  t.equal(policy.allows(ANON, CATALOG, 'pull'), true)
  const closed = new RulesPolicy({ ...RULES, anonymous: [] })
  t.equal(closed.allows(ANON, CATALOG, 'pull'), false, 'no anonymous rules: no catalog either')
  t.equal(closed.allows(ANON, repo('public/x'), 'pull'), false)
})

t.test('robots: exactly their scopes, as globs', async (t) => {
  const ci = robot('ci', [{ type: 'repository', name: 'team/*', actions: ['pull', 'push'] }, { type: 'repository', name: 'cache/**', actions: ['*'] }])
  t.equal(policy.allows(ci, repo('team/app'), 'push'), true)
  t.equal(policy.allows(ci, repo('team/deep/app'), 'pull'), false, '* stops at /')
  t.equal(policy.allows(ci, repo('team/app'), 'delete'), false)
  t.equal(policy.allows(ci, repo('cache/x/y'), 'delete'), true, '* among the actions is every action')
  t.equal(policy.allows(ci, repo('public/base'), 'pull'), false, 'no anonymous rules for robots')
  t.equal(policy.allows(ci, CATALOG, 'pull'), true, 'pulling something lists the (filtered) catalog')
  t.equal(policy.allows(ci, ADMIN, 'admin'), false)
  const pushOnly = robot('p', [{ type: 'repository', name: 'x/*', actions: ['push'] }])
  t.equal(policy.allows(pushOnly, CATALOG, 'pull'), false)
  const admin = robot('adm', [{ type: 'registry', name: 'admin', actions: ['*'] }])
  t.equal(policy.allows(admin, ADMIN, 'admin'), true)
  t.match(decision(ci, [need(repo('team/app'), 'delete')]), { code: 'DENIED', status: 403 })
})

t.test('bearer tokens: the access claim, and for a token Wharf issued, also its subject\'s current rules', async (t) => {
  const claim: Grant[] = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }, { type: 'registry', name: 'catalog', actions: ['*'] }]
  const pusherToken = bearer(user('pusher'), claim)
  t.equal(policy.allows(pusherToken, repo('team/app'), 'push'), true)
  t.equal(policy.allows(pusherToken, repo('team/other'), 'pull'), false, 'names in a claim are exact')
  t.equal(policy.allows(pusherToken, CATALOG, 'pull'), true)
  const readerToken = bearer(user('reader'), claim)
  t.equal(policy.allows(readerToken, repo('team/app'), 'push'), false, 'the claim alone is not enough: the subject may not push')
  const external = bearer(undefined, [{ type: 'repository', name: 'secret/app', actions: ['pull'] }])
  t.equal(policy.allows(external, repo('secret/app'), 'pull'), true, 'an external issuer\'s claim alone decides')
  t.equal(policy.allows(external, repo('secret/app'), 'push'), false)
  const globClaim = bearer(undefined, [{ type: 'repository', name: 'team/*', actions: ['pull'] }])
  t.equal(policy.allows(globClaim, repo('team/app'), 'pull'), false, 'a claim\'s name is no glob')
  const star = bearer(user('root'), [{ type: 'repository', name: 'x/y', actions: ['*'] }, { type: 'registry', name: 'admin', actions: ['*'] }])
  t.equal(policy.allows(star, repo('x/y'), 'delete'), true)
  t.equal(policy.allows(star, ADMIN, 'admin'), true)
})

t.test('refusals: 401 for anonymous and for tokens a new token would help, 403 otherwise; detail names what was needed', async (t) => {
  const push = [need(repo('team/app'), 'pull'), need(repo('team/app'), 'push')]
  t.same(decision(ANON, push), {
    code: 'UNAUTHORIZED', status: 401,
    detail: [{ Type: 'repository', Name: 'team/app', Action: 'pull' }, { Type: 'repository', Name: 'team/app', Action: 'push' }],
  })
  t.same(decision(user('reader'), push), { code: 'DENIED', status: 403, detail: [{ Type: 'repository', Name: 'team/app', Action: 'push' }] }, 'only the refused need is named')
  t.equal(decision(user('pusher'), push), 'allowed')
  t.match(decision(bearer(user('pusher'), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]), push), { code: 'UNAUTHORIZED', status: 401 }, 'insufficient scope: the subject may, a new token helps')
  t.match(decision(bearer(user('reader'), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]), push), { code: 'DENIED', status: 403 }, 'the subject may not either')
  t.match(decision(bearer(undefined, []), push), { code: 'UNAUTHORIZED', status: 401 }, 'an external issuer might grant it')
  t.match(decision(bearer(ANON, []), [need(repo('public/x'), 'pull')]), { code: 'UNAUTHORIZED', status: 401 }, 'an anonymous token without the scope')
  t.equal(decision({ kind: 'system', job: 'gc' }, [need(ADMIN, '*'), ...push]), 'allowed', 'the system may do everything')
  t.equal(decision(ANON, []), 'allowed', 'nothing needed')
})

t.test('grantable: of what is asked, what the subject may do', async (t) => {
  const asked: Grant[] = [
    { type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] },
    { type: 'repository', name: 'other/app', actions: ['pull'] },
    { type: 'repository', name: 'public/base', actions: ['*'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
    { type: 'registry', name: 'admin', actions: ['*'] },
    { type: 'registry', name: 'weird', actions: ['*'] },
    { type: 'blob', name: 'x', actions: ['pull'] },
  ]
  t.same(policy.grantable(user('pusher'), asked), [
    { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
    { type: 'repository', name: 'public/base', actions: ['pull'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
  ])
  t.same(policy.grantable(user('root'), asked.slice(0, 1).concat(asked.slice(4, 5))), [
    { type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] },
    { type: 'registry', name: 'admin', actions: ['*'] },
  ])
  t.same(policy.grantable(ANON, asked), [{ type: 'repository', name: 'public/base', actions: ['pull'] }, { type: 'registry', name: 'catalog', actions: ['*'] }])
  t.same(policy.grantable(robot('ci', [{ type: 'repository', name: 'team/*', actions: ['push'] }]), asked), [{ type: 'repository', name: 'team/app', actions: ['push'] }])
})

t.test('callerIdentity names who started something', async (t) => {
  t.equal(callerIdentity(ANON), 'anonymous')
  t.equal(callerIdentity(user('alice')), 'user:alice')
  t.equal(callerIdentity({ kind: 'user', name: 'alice', via: 'certificate' }), 'user:alice')
  t.equal(callerIdentity(robot('ci', [])), 'robot:ci')
  t.equal(callerIdentity(bearer(user('alice'), [])), 'user:alice', 'a token Wharf issued is its subject')
  t.equal(callerIdentity(bearer(undefined, [])), 'bearer:token')
  t.equal(callerIdentity({ kind: 'system', job: 'purge' }), 'system:purge')
})
