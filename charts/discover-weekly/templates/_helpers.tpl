{{/*
Names, labels and the pieces every pod shares. Object names are <fullname>-<component>;
the fullname is cut to 40 characters so that the longest suffix still fits a DNS label.
*/}}

{{- define "dwt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "dwt.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "dwt.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of every pod of the release (the default-deny NetworkPolicy). */}}
{{- define "dwt.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dwt.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dwt.labels" -}}
helm.sh/chart: {{ include "dwt.chart" . }}
{{ include "dwt.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: discover-weekly
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "operator"). */}}
{{- define "dwt.componentSelectorLabels" -}}
{{ include "dwt.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "dwt.componentLabels" -}}
{{ include "dwt.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* ---- object names ---- */}}
{{- define "dwt.operator.name" -}}{{ include "dwt.fullname" . }}-operator{{- end -}}
{{- define "dwt.dashboard.name" -}}{{ include "dwt.fullname" . }}-dashboard{{- end -}}
{{- define "dwt.mongodb.name" -}}{{ include "dwt.fullname" . }}-mongodb{{- end -}}
{{- define "dwt.ray.clusterName" -}}{{ include "dwt.fullname" . }}-ray{{- end -}}
{{- define "dwt.ray.authSecretName" -}}{{ include "dwt.fullname" . }}-ray-auth{{- end -}}

{{/* The Ray head's Service: KubeRay names it <cluster>-head-svc. */}}
{{- define "dwt.ray.headService" -}}
{{- if .Values.ray.kuberay.enabled -}}
{{ include "dwt.ray.clusterName" . }}-head-svc
{{- else -}}
{{ include "dwt.fullname" . }}-ray-head
{{- end -}}
{{- end -}}

{{/* What the operator scales: the worker Deployment, or the RayCluster. */}}
{{- define "dwt.ray.workersName" -}}
{{- if .Values.ray.kuberay.enabled -}}
{{ include "dwt.ray.clusterName" . }}
{{- else -}}
{{ include "dwt.fullname" . }}-ray-worker
{{- end -}}
{{- end -}}

{{- define "dwt.apiKeys.secretName" -}}
{{- if .Values.apiKeys.existingSecret -}}
{{ .Values.apiKeys.existingSecret }}
{{- else -}}
{{ default (printf "%s-x-api-keys" (include "dwt.fullname" .)) .Values.apiKeys.secretName }}
{{- end -}}
{{- end -}}

{{/* The Secret and key holding the full MongoDB URL (chart-made unless external.existingSecret). */}}
{{- define "dwt.mongodb.urlSecretName" -}}
{{- if and (not .Values.mongodb.enabled) .Values.mongodb.external.existingSecret -}}
{{ .Values.mongodb.external.existingSecret }}
{{- else -}}
{{ include "dwt.fullname" . }}-mongodb-url
{{- end -}}
{{- end -}}

{{- define "dwt.mongodb.urlSecretKey" -}}
{{- if and (not .Values.mongodb.enabled) .Values.mongodb.external.existingSecret -}}
{{ .Values.mongodb.external.existingSecretKey }}
{{- else -}}
url
{{- end -}}
{{- end -}}

{{- define "dwt.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/*
A generated secret value kept across upgrades: the existing Secret's key if the release
already made it (lookup; empty under `helm template`), else `length` random characters.
(list $ secretName key length)
*/}}
{{- define "dwt.keptRandom" -}}
{{- $ctx := index . 0 -}}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace (index . 1) -}}
{{- if and $existing $existing.data (hasKey $existing.data (index . 2)) -}}
{{- index $existing.data (index . 2) | b64dec -}}
{{- else -}}
{{- randAlphaNum (index . 3) -}}
{{- end -}}
{{- end -}}

{{/* ---- pod security: the same for every pod ---- */}}
{{- define "dwt.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "dwt.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "dwt.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* ---- Ray nodes (head and workers, Deployments or RayCluster) ---- */}}
{{- define "dwt.ray.authMountPath" -}}/var/run/dwt/ray-auth{{- end -}}

{{/* Environment of a Ray node: the store URL from its Secret, the X API, token auth. */}}
{{- define "dwt.ray.env" -}}
- name: DWT_STORE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "dwt.mongodb.urlSecretName" . }}
      key: {{ include "dwt.mongodb.urlSecretKey" . }}
- name: DWT_X_API_BASE_URL
  value: {{ .Values.xApi.baseUrl | quote }}
- name: HOME
  value: /tmp
- name: RAY_USAGE_STATS_ENABLED
  value: "0"
{{- if and .Values.ray.auth.enabled (not .Values.ray.kuberay.enabled) }}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN_PATH
  value: {{ include "dwt.ray.authMountPath" . }}/auth_token
{{- end }}
{{- end -}}

{{/* Volume mounts of a Ray node: scratch, shared memory, the API keys, the Ray token. */}}
{{- define "dwt.ray.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: dshm
  mountPath: /dev/shm
- name: x-api-keys
  mountPath: /var/run/dwt/keys/{{ include "dwt.apiKeys.secretName" . }}
  readOnly: true
{{- if and .Values.ray.auth.enabled (not .Values.ray.kuberay.enabled) }}
- name: ray-auth
  mountPath: {{ include "dwt.ray.authMountPath" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* (list $ shmSize) */}}
{{- define "dwt.ray.volumes" -}}
{{- $ctx := index . 0 -}}
- name: tmp
  emptyDir: {}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ index . 1 }}
- name: x-api-keys
  secret:
    secretName: {{ include "dwt.apiKeys.secretName" $ctx }}
    defaultMode: 288  # 0440: owner and fsGroup read
{{- if and $ctx.Values.ray.auth.enabled (not $ctx.Values.ray.kuberay.enabled) }}
- name: ray-auth
  secret:
    secretName: {{ include "dwt.ray.authSecretName" $ctx }}
    defaultMode: 288  # 0440: owner and fsGroup read
{{- end }}
{{- end -}}

{{/* Ports and probes of the head container (health endpoints need no Ray token). */}}
{{- define "dwt.ray.headPorts" -}}
ports:
  - name: gcs-server
    containerPort: 6379
  - name: dashboard
    containerPort: 8265
  - name: client
    containerPort: 10001
# A head starting on a busy node may take minutes: liveness and readiness begin once it
# answers, so a slow start is not killed in a loop.
startupProbe:
  httpGet:
    path: /api/gcs_healthz
    port: 8265
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 60
readinessProbe:
  httpGet:
    path: /api/gcs_healthz
    port: 8265
  initialDelaySeconds: 10
  periodSeconds: 10
  timeoutSeconds: 5
livenessProbe:
  httpGet:
    path: /api/gcs_healthz
    port: 8265
  initialDelaySeconds: 60
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 6
{{- end -}}

{{- define "dwt.ray.workerProbes" -}}
startupProbe:
  httpGet:
    path: /api/local_raylet_healthz
    port: 52365
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 60
readinessProbe:
  httpGet:
    path: /api/local_raylet_healthz
    port: 52365
  initialDelaySeconds: 10
  periodSeconds: 10
  timeoutSeconds: 5
livenessProbe:
  httpGet:
    path: /api/local_raylet_healthz
    port: 52365
  initialDelaySeconds: 60
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 6
{{- end -}}
