{{/*
Values -> environment: the one place that spells SWITCHYARD_* names (docs/configuration.md), so a
renamed variable is one edit here. test/helm-chart.test.ts checks that every name set exists in
docs/configuration.md for that service (names of work still in flight are listed there as pending).
input of each define: dict "root" $ "c" <component from switchyard.components> "v" <its values block>
*/}}

{{- define "switchyard.env" -}}
{{- $root := .root }}
{{- $c := .c }}
{{- $v := .v }}
{{- $port := dict }}
{{- range $c.ports }}{{ $_ := set $port .name .port }}{{ end }}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: POD_IP
  valueFrom: { fieldRef: { fieldPath: status.podIP } }
{{- if has $c.name (list "grpc-proxy" "invocation") }}
- name: HOST_IP
  valueFrom: { fieldRef: { fieldPath: status.hostIP } }
{{- end }}
{{- include "switchyard.env.nats" . }}
- name: SWITCHYARD_METRICS_PORT
  value: {{ $port.metrics | quote }}
# The metrics port (/metrics, /healthz, /readyz) binds loopback by default; the kubelet's probes and
# Prometheus come from outside the container.
- name: SWITCHYARD_METRICS_HOST
  value: "0.0.0.0"
{{- if has $c.name (list "grpc-proxy" "invocation") }}
{{- $processes := int ($v.processes | default 1) }}
{{- if and (gt $processes 1) (eq $v.callback.advertise "hostIP") }}
{{- fail (printf "%s.processes > 1 needs callback.advertise podIP (each process has its own callback port)" $c.name) }}
{{- end }}
# Processes per pod (issue 12): each a full replica sharing the client port, with callback and
# metrics ports offset by its index. Never left to the default: os.availableParallelism() counts the
# node's cores, not the pod's CPU limit.
- name: SWITCHYARD_PROCESSES
  value: {{ $processes | quote }}
{{- end }}
{{- if eq $c.name "grpc-proxy" }}
- name: SWITCHYARD_REGION
  value: {{ $root.Values.region | quote }}
- name: SWITCHYARD_PROXY_ID
  value: "$(POD_NAME)"
- name: SWITCHYARD_HOST
  value: "0.0.0.0"
- name: SWITCHYARD_PORT
  value: {{ $port.grpc | quote }}
{{- include "switchyard.env.callback" . }}
{{- with $root.Values.remoteRegions }}
- name: SWITCHYARD_REMOTE_REGIONS
  value: {{ join "," . | quote }}
{{- end }}
{{- with $v.advertiseAddresses }}
- name: SWITCHYARD_ADVERTISE_ADDRESSES
  value: {{ join "," . | quote }}
{{- end }}
{{- if or $root.Values.redis.url $root.Values.redis.existingSecret }}
{{- include "switchyard.env.redis" . }}
{{- end }}
{{- include "switchyard.env.listenerTls" . }}
{{- else if eq $c.name "invocation" }}
- name: SWITCHYARD_REGION
  value: {{ $root.Values.region | quote }}
- name: SWITCHYARD_INSTANCE_ID
  value: "$(POD_NAME)"
- name: SWITCHYARD_HOST
  value: "0.0.0.0"
- name: SWITCHYARD_PORT
  value: {{ $port.http | quote }}
{{- include "switchyard.env.callback" . }}
{{- with $root.Values.remoteRegions }}
- name: SWITCHYARD_REMOTE_REGIONS
  value: {{ join "," . | quote }}
{{- end }}
- name: SWITCHYARD_DRAIN_TIMEOUT_MS
  value: {{ $v.drainTimeoutMs | quote }}
{{- include "switchyard.env.redis" . }}
{{- include "switchyard.env.listenerTls" . }}
{{- else if eq $c.name "api" }}
- name: SWITCHYARD_REGION
  value: {{ $root.Values.region | quote }}
- name: SWITCHYARD_HOST
  value: "0.0.0.0"
- name: SWITCHYARD_PORT
  value: {{ $port.http | quote }}
- name: SWITCHYARD_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.adminSecretName" $root }}
      key: {{ $root.Values.auth.adminTokenKey }}
{{- with $root.Values.remoteRegions }}
- name: SWITCHYARD_REGIONS
  value: {{ join "," (prepend . $root.Values.region) | quote }}
{{- end }}
{{- include "switchyard.env.listenerTls" . }}
{{- else if eq $c.name "geodns" }}
- name: SWITCHYARD_HOST
  value: "0.0.0.0"
- name: SWITCHYARD_PORT
  value: {{ index $port "dns-tcp" | quote }}
- name: SWITCHYARD_DOMAIN
  value: {{ required "geodns.domain is required" $v.domain | quote }}
- name: SWITCHYARD_GEO_REGIONS
  value: {{ required "geodns.regions is required: every region with lat, lon and addresses" $v.regions | toJson | quote }}
{{- with $v.defaultRegion }}
- name: SWITCHYARD_DEFAULT_REGION
  value: {{ . | quote }}
{{- end }}
{{- with $v.nameservers }}
- name: SWITCHYARD_NAMESERVERS
  value: {{ join "," . | quote }}
{{- end }}
{{- range $v.nameservers }}
{{- if and (hasSuffix (printf ".%s" $v.domain) .) (not (hasKey ($v.nameserverAddresses | default dict) .)) }}
{{- fail (printf "geodns.nameserverAddresses needs the addresses of %s: a nameserver inside %s is answered by geodns itself" . $v.domain) }}
{{- end }}
{{- end }}
{{- with $v.nameserverAddresses }}
- name: SWITCHYARD_NAMESERVER_ADDRESSES
  value: {{ toJson . | quote }}
{{- end }}
{{- with $v.hostmaster }}
- name: SWITCHYARD_HOSTMASTER
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := $v.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
The callback URI workers dial back (W1): this pod's own address, never a load-balanced one, since a
tunnel belongs to one proxy instance. podIP: the pod address (workers in the pod network, through
the headless Service's endpoints); hostIP: the node address and a hostPort (workers outside it).
*/}}
{{- define "switchyard.env.callback" -}}
{{- $port := 0 }}
{{- range .c.ports }}{{ if eq .name "callback" }}{{ $port = .port }}{{ end }}{{ end }}
{{- $scheme := ternary "https" "http" (.v.callbackTls.enabled | default false) }}
- name: SWITCHYARD_CALLBACK_PORT
  value: {{ $port | quote }}
- name: SWITCHYARD_CALLBACK_URI
{{- if eq .v.callback.advertise "hostIP" }}
  value: {{ printf "%s://$(HOST_IP):%d" $scheme (int .v.callback.hostPort) | quote }}
{{- else }}
  value: {{ printf "%s://$(POD_IP):%d" $scheme (int $port) | quote }}
{{- end }}
{{- if .v.callbackTls.enabled }}
- name: SWITCHYARD_CALLBACK_TLS_CERT_FILE
  value: /etc/switchyard/callback-tls/tls.crt
- name: SWITCHYARD_CALLBACK_TLS_KEY_FILE
  value: /etc/switchyard/callback-tls/tls.key
{{- end }}
{{- end }}

{{/* Client listener TLS (ALPN h2 and http/1.1), from a kubernetes.io/tls Secret mounted at /etc/switchyard/tls. */}}
{{- define "switchyard.env.listenerTls" -}}
{{- if .v.tls.enabled }}
- name: SWITCHYARD_TLS_CERT_FILE
  value: /etc/switchyard/tls/tls.crt
- name: SWITCHYARD_TLS_KEY_FILE
  value: /etc/switchyard/tls/tls.key
{{- end }}
{{- end }}

{{- define "switchyard.env.redis" -}}
{{- $r := .root.Values.redis }}
- name: SWITCHYARD_REDIS_URL
{{- if $r.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret }}
      key: {{ $r.existingSecretKey }}
{{- else }}
  value: {{ required "redis.url (or redis.existingSecret) is required for the invocation service" $r.url | quote }}
{{- end }}
{{- end }}

{{/*
NATS: servers, credentials (one NATS user per role: grpc-proxy, invocation, api, geodns, as
infra/nats/production/users.conf names them) and TLS. A password comes from the Secret; a creds file
or an nkey seed is mounted at /etc/switchyard/nats-auth (files are read again at every reconnect).
*/}}
{{- define "switchyard.env.nats" -}}
{{- $n := .root.Values.nats }}
{{- $role := .c.role }}
- name: SWITCHYARD_NATS_SERVERS
  value: {{ join "," (required "nats.servers is required" $n.servers) | quote }}
{{- if ne .c.name "geodns" }}
- name: SWITCHYARD_NATS_REPLICAS
  value: {{ $n.replicas | quote }}
{{- end }}
{{- if eq $n.auth.type "password" }}
- name: SWITCHYARD_NATS_USER
  value: {{ get $n.auth.users $role | quote }}
- name: SWITCHYARD_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.natsAuthSecretName" .root }}
      key: {{ printf "%s-password" $role }}
{{- else if eq $n.auth.type "creds" }}
- name: SWITCHYARD_NATS_CREDS
  value: /etc/switchyard/nats-auth/nats.creds
{{- else if eq $n.auth.type "nkey" }}
- name: SWITCHYARD_NATS_NKEY_SEED
  value: /etc/switchyard/nats-auth/nats.nk
{{- end }}
{{- if and $n.auth.inboxPrefixPerUser (eq $n.auth.type "password") }}
- name: SWITCHYARD_NATS_INBOX_PREFIX
  value: {{ printf "_INBOX_%s" (get $n.auth.users $role) | quote }}
{{- else if eq $n.auth.type "nkey" }}
# the only inbox this role's user may subscribe to (infra/nats/production/permissions.conf)
- name: SWITCHYARD_NATS_INBOX_PREFIX
  value: {{ printf "_INBOX_%s" $role | quote }}
{{- end }}
{{- if $n.tls.enabled }}
- name: SWITCHYARD_NATS_TLS_CA
  value: /etc/switchyard/nats-tls/ca.crt
{{- if $n.tls.clientCertificate }}
- name: SWITCHYARD_NATS_TLS_CERT
  value: /etc/switchyard/nats-tls/tls.crt
- name: SWITCHYARD_NATS_TLS_KEY
  value: /etc/switchyard/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes the environment above points at. input as for switchyard.env */}}
{{- define "switchyard.volumes" -}}
- name: tmp
  emptyDir: {}
{{- $auth := .root.Values.nats.auth.type }}
{{- if has $auth (list "creds" "nkey") }}
{{- $ext := ternary "creds" "nk" (eq $auth "creds") }}
- name: nats-auth
  secret:
    secretName: {{ include "switchyard.natsAuthSecretName" .root }}
    defaultMode: 0440
    items:
      - key: {{ printf "%s.%s" .c.role $ext }}
        path: {{ printf "nats.%s" $ext }}
{{- end }}
{{- if .root.Values.nats.tls.enabled }}
- name: nats-tls
  secret:
    secretName: {{ include "switchyard.natsTlsSecretName" .root }}
    defaultMode: 0440
{{- end }}
{{- if (.v.tls).enabled }}
- name: tls
  secret:
    secretName: {{ include "switchyard.listenerTlsSecretName" (dict "root" .root "component" .c.name "tls" .v.tls "suffix" "tls") }}
    defaultMode: 0440
{{- end }}
{{- if (.v.callbackTls).enabled }}
- name: callback-tls
  secret:
    secretName: {{ include "switchyard.listenerTlsSecretName" (dict "root" .root "component" .c.name "tls" .v.callbackTls "suffix" "callback-tls") }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "switchyard.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if has .root.Values.nats.auth.type (list "creds" "nkey") }}
- name: nats-auth
  mountPath: /etc/switchyard/nats-auth
  readOnly: true
{{- end }}
{{- if .root.Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: /etc/switchyard/nats-tls
  readOnly: true
{{- end }}
{{- if (.v.tls).enabled }}
- name: tls
  mountPath: /etc/switchyard/tls
  readOnly: true
{{- end }}
{{- if (.v.callbackTls).enabled }}
- name: callback-tls
  mountPath: /etc/switchyard/callback-tls
  readOnly: true
{{- end }}
{{- end }}
