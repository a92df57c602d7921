{{/*
Probes, in one place. The API has GET /healthz (ready when NATS is). The other services have no
health endpoint yet (the observability issue designs /healthz and /readyz): until then readiness is
"the client port accepts connections" (a service listens only once NATS, its buckets and streams are
up) and liveness is "the metrics endpoint answers" (SWITCHYARD_METRICS_PORT).
TODO(health): switch grpc-proxy, invocation and geodns to httpGet /readyz and /healthz when they exist.
input: dict "root" $ "c" <component> "v" <its values>
*/}}
{{- define "switchyard.probes" -}}
{{- $p := .root.Values.probes }}
startupProbe:
  {{- include "switchyard.probe.ready" . | nindent 2 }}
  periodSeconds: 2
  failureThreshold: {{ $p.startupFailureThreshold }}
readinessProbe:
  {{- include "switchyard.probe.ready" . | nindent 2 }}
  periodSeconds: {{ $p.periodSeconds }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.readinessFailureThreshold }}
livenessProbe:
  httpGet:
    path: /metrics
    port: metrics
  periodSeconds: {{ $p.periodSeconds }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.livenessFailureThreshold }}
{{- end }}

{{- define "switchyard.probe.ready" -}}
{{- if eq .c.name "api" -}}
httpGet:
  path: /healthz
  port: http
{{- else -}}
tcpSocket:
  port: {{ .c.client }}
{{- end }}
{{- end }}
