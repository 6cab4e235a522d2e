// The image's HEALTHCHECK (slim images have no curl): GET /readyz over loopback on the port the
// server listens on (WHARF_HTTP_PORT, else 5000); healthy on 200 only.
'use strict'
const http = require('node:http')
const port = Number(process.env.WHARF_HTTP_PORT || 5000)
const req = http.get({ host: '127.0.0.1', port, path: '/readyz', timeout: 4000 }, (res) => {
  res.resume()
  process.exit(res.statusCode === 200 ? 0 : 1)
})
req.on('timeout', () => req.destroy(new Error('timeout')))
req.on('error', (err) => { console.error(`readyz: ${err.message}`); process.exit(1) })
