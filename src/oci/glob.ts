/**
 * Compiles a glob: "**" matches anything, "*" anything but "/", "?" one character but "/".
 * Repository patterns use "/" as the separator; tags have none, so "*" covers a whole tag.
 */
export function globToRegExp(glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*') {
      if (glob[i + 1] === '*') { source += '.*'; i++ } else source += '[^/]*'
    } else if (c === '?') source += '[^/]'
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}
