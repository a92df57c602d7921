{{/*
Names, labels and the component table. Every template ranges over the components below; what a
component listens on is fixed here (container ports), what clients reach is in values (Service ports).
*/}}

{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; "component" is added by the per-component helpers. */}}
{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
switchyard.io/region: {{ .Values.region | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* input: dict "root" $ "component" "grpc-proxy" */}}
{{- define "switchyard.componentLabels" -}}
{{ include "switchyard.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* input: dict "root" $ "component" "grpc-proxy" */}}
{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Object name of a component: <fullname>-<component>. input: dict "root" $ "component" "api" */}}
{{- define "switchyard.componentName" -}}
{{- printf "%s-%s" (include "switchyard.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The components as JSON: name (the `switchyard serve` argument), key (its block in values), role (its
NATS user in infra/nats/production/users.conf: one per service), and container ports (name -> port/protocol).
The ports here are what the process binds (set through _env.tpl); Services map their own ports to them.
A front end with `processes` N > 1 runs N processes per pod, process i on callback and metrics ports
port+i: those are declared too, named `callback-<i>` and `metrics-<i>` (every process is scraped, and
workers may reach every callback port through the NetworkPolicy).
*/}}
{{- define "switchyard.components" -}}
{{- $m := .Values.metrics.port -}}
{{- $grpcProxy := list (dict "name" "grpc" "port" 10081 "protocol" "TCP") -}}
{{- $grpcProxy = concat $grpcProxy (include "switchyard.processPorts" (dict "n" .Values.grpcProxy.processes "callback" 10086 "metrics" $m) | fromJson).items -}}
{{- $invocation := list (dict "name" "http" "port" 8080 "protocol" "TCP") -}}
{{- $invocation = concat $invocation (include "switchyard.processPorts" (dict "n" .Values.invocation.processes "callback" 10087 "metrics" $m) | fromJson).items -}}
{{- $list := list
  (dict "name" "grpc-proxy" "key" "grpcProxy" "role" "grpc-proxy" "client" "grpc" "ports" $grpcProxy)
  (dict "name" "invocation" "key" "invocation" "role" "invocation" "client" "http" "ports" $invocation)
  (dict "name" "api" "key" "api" "role" "api" "client" "http" "ports" (list
      (dict "name" "http" "port" 8088 "protocol" "TCP")
      (dict "name" "metrics" "port" $m "protocol" "TCP")))
  (dict "name" "geodns" "key" "geodns" "role" "geodns" "client" "dns-tcp" "ports" (list
      (dict "name" "dns-udp" "port" 5353 "protocol" "UDP")
      (dict "name" "dns-tcp" "port" 5353 "protocol" "TCP")
      (dict "name" "metrics" "port" $m "protocol" "TCP")))
-}}
{{- toJson (dict "items" $list) }}
{{- end }}

{{/*
Callback and metrics ports of a front end's N processes (JSON {"items": [...]}): `callback` and
`metrics` for process 0, `callback-<i>` and `metrics-<i>` (port + i) for process i.
input: dict "n" <processes (unset: 1)> "callback" <port> "metrics" <port>
*/}}
{{- define "switchyard.processPorts" -}}
{{- $items := list -}}
{{- range $i := until (int (.n | default 1)) -}}
{{- $suffix := ternary "" (printf "-%d" $i) (eq $i 0) -}}
{{- $items = append $items (dict "name" (printf "callback%s" $suffix) "port" (add $.callback $i) "protocol" "TCP") -}}
{{- $items = append $items (dict "name" (printf "metrics%s" $suffix) "port" (add $.metrics $i) "protocol" "TCP") -}}
{{- end -}}
{{- toJson (dict "items" $items) -}}
{{- end }}

{{/* Most processes per pod of any enabled front end (the ServiceMonitor's metrics endpoints). */}}
{{- define "switchyard.maxProcesses" -}}
{{- $max := 1 -}}
{{- range $key := list "grpcProxy" "invocation" -}}
{{- $v := get $.Values $key -}}
{{- if and $v.enabled (gt (int ($v.processes | default 1)) $max) -}}{{- $max = int $v.processes -}}{{- end -}}
{{- end -}}
{{- $max -}}
{{- end }}

{{/* Container port number of a named port. input: dict "c" <component> "name" "callback" */}}
{{- define "switchyard.containerPort" -}}
{{- $want := .name -}}
{{- range .c.ports }}{{ if eq .name $want }}{{ .port }}{{ end }}{{ end }}
{{- end }}

{{- define "switchyard.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{ printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else -}}
{{ printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret names: the operator's existingSecret, else the one this chart creates. */}}
{{- define "switchyard.adminSecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "switchyard.fullname" .)) }}
{{- end }}

{{- define "switchyard.natsAuthSecretName" -}}
{{- .Values.nats.auth.existingSecret | default (printf "%s-nats-auth" (include "switchyard.fullname" .)) }}
{{- end }}

{{- define "switchyard.natsTlsSecretName" -}}
{{- .Values.nats.tls.existingSecret | default (printf "%s-nats-tls" (include "switchyard.fullname" .)) }}
{{- end }}

{{/* A listener's TLS Secret. input: dict "root" $ "component" "grpc-proxy" "tls" <tls values> "suffix" "tls" */}}
{{- define "switchyard.listenerTlsSecretName" -}}
{{- .tls.existingSecret | default (printf "%s-%s" (include "switchyard.componentName" .) .suffix) }}
{{- end }}
