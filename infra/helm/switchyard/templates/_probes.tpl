{{/*
Probes, in one place: every service serves GET /healthz (alive) and GET /readyz (NATS connected, ...)
on its metrics port (SWITCHYARD_METRICS_PORT, bound to 0.0.0.0 in the pod so the kubelet and
Prometheus reach it; docs/observability.md).
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
    path: /healthz
    port: metrics
  periodSeconds: {{ $p.periodSeconds }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.livenessFailureThreshold }}
{{- end }}

{{- define "switchyard.probe.ready" -}}
httpGet:
  path: /readyz
  port: metrics
{{- end }}
