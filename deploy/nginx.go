package deploy

import _ "embed"

// NginxProxy is nginx/proxy.conf, the limits, headers, retries and routes of the Compose
// stack's nginx (inside its server block, proxying to the upstream "inkwell"), for a
// local nginx that proxies the same way (internal/localnginx, cmd/inkwell-cluster).
//
//go:embed nginx/proxy.conf
var NginxProxy string
