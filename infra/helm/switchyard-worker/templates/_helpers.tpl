{{- define "switchyard-worker.fullname" -}}
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

{{- define "switchyard-worker.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard-worker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "switchyard-worker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
switchyard.io/region: {{ .Values.region | quote }}
switchyard.io/function-id: {{ .Values.functionId | quote }}
switchyard.io/version-id: {{ .Values.versionId | quote }}
{{- end }}

{{- define "switchyard-worker.secretName" -}}
{{- .Values.credentials.existingSecret | default (printf "%s-credentials" (include "switchyard-worker.fullname" .)) }}
{{- end }}

{{/*
Values -> the worker's environment (docs/configuration.md, "worker"): the one place that spells the
SWITCHYARD_* names of this chart.
*/}}
{{- define "switchyard-worker.env" -}}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: SWITCHYARD_REGION
  value: {{ required "region is required" .Values.region | quote }}
- name: SWITCHYARD_WORKER_ID
  value: "$(POD_NAME)"
- name: SWITCHYARD_FUNCTION_ID
  value: {{ required "functionId is required" .Values.functionId | quote }}
- name: SWITCHYARD_VERSION_ID
  value: {{ required "versionId is required" .Values.versionId | quote }}
- name: SWITCHYARD_UPSTREAM
  value: {{ printf "%s://127.0.0.1:%d" .Values.function.protocol (int .Values.function.port) | quote }}
- name: SWITCHYARD_CONCURRENCY
  value: {{ .Values.worker.concurrency | quote }}
- name: SWITCHYARD_CALLBACK_ALLOW_LIST
  value: {{ join "," (required "worker.callbackAllowList is required" .Values.worker.callbackAllowList) | quote }}
{{- if .Values.worker.callbackTls.existingSecret }}
- name: SWITCHYARD_CALLBACK_TLS_CA_FILE
  value: /etc/switchyard/callback-tls/ca.crt
{{- end }}
- name: SWITCHYARD_METRICS_PORT
  value: {{ .Values.worker.metricsPort | quote }}
- name: SWITCHYARD_NATS_SERVERS
  value: {{ join "," (required "nats.servers is required" .Values.nats.servers) | quote }}
- name: SWITCHYARD_NATS_REPLICAS
  value: {{ .Values.nats.replicas | quote }}
{{- if eq .Values.credentials.natsAuth "password" }}
- name: SWITCHYARD_NATS_USER
  value: {{ required "credentials.natsUser is required with natsAuth password" .Values.credentials.natsUser | quote }}
- name: SWITCHYARD_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard-worker.secretName" . }}
      key: nats-password
{{- else if eq .Values.credentials.natsAuth "creds" }}
- name: SWITCHYARD_NATS_CREDS
  value: /etc/switchyard/nats-auth/nats.creds
{{- else if eq .Values.credentials.natsAuth "nkey" }}
- name: SWITCHYARD_NATS_NKEY_SEED
  value: /etc/switchyard/nats-auth/nats.nk
# the only inbox a generated worker user may subscribe to (switchyard nats-user worker)
- name: SWITCHYARD_NATS_INBOX_PREFIX
  value: {{ printf "_INBOX_worker_%s" .Values.versionId | quote }}
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: SWITCHYARD_NATS_TLS_CA
  value: /etc/switchyard/nats-tls/ca.crt
{{- if .Values.nats.tls.clientCertificate }}
- name: SWITCHYARD_NATS_TLS_CERT
  value: /etc/switchyard/nats-tls/tls.crt
- name: SWITCHYARD_NATS_TLS_KEY
  value: /etc/switchyard/nats-tls/tls.key
{{- end }}
{{- end }}
{{- range $name, $value := .Values.worker.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
