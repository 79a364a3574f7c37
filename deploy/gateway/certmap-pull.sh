#!/bin/sh
# Runs from the nginx image's /docker-entrypoint.d before nginx starts: install the site's config
# once (so nginx starts with it when certmap is reachable), then keep following certmap in the
# background. The agent keeps the last good file whenever certmap is down or `nginx -t` refuses.
set -eu
: "${CERTMAP_SERVER:?set CERTMAP_SERVER, e.g. http://api:8080}"
: "${CERTMAP_TOKEN:?set CERTMAP_TOKEN: certmap token issue --role gateway --site NAME}"
: "${CERTMAP_SITE:?set CERTMAP_SITE to the site id}"
rm -f /etc/nginx/conf.d/default.conf
set -- --format nginx --out /etc/nginx/conf.d/certmap.conf --ca-out /etc/certmap/client-ca.pem \
    --option "listen=0.0.0.0:443" \
    --option "upstream=${CERTMAP_UPSTREAM:-http://upstream:8080}" \
    --option server_cert=/etc/certmap/tls/server.pem --option server_key=/etc/certmap/tls/server.key \
    --option ca_bundle=/etc/certmap/client-ca.pem
certmap pull "$@" --once --check 'nginx -t -q' || echo "certmap pull: no config yet; nginx starts without it" >&2
nohup certmap pull "$@" --check 'nginx -t -q' --reload 'nginx -s reload' >/proc/1/fd/1 2>/proc/1/fd/2 &
