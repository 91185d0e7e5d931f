{{/* Names and labels. */}}
{{- define "studio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "studio.fullname" -}}
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

{{- define "studio.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "studio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "studio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "studio.labels" -}}
helm.sh/chart: {{ include "studio.chart" . }}
{{ include "studio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "studio.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "studio.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "studio.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "studio.alertRulesConfigMap" -}}
{{- printf "%s-alert-rules" (include "studio.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The alert rules as text: a string as given, a mapping as YAML. */}}
{{- define "studio.alertRulesText" -}}
{{- $r := .Values.alerting.rules }}
{{- if kindIs "string" $r }}{{ $r }}{{ else }}{{ toYaml $r }}{{ end }}
{{- end }}

{{- define "studio.hasAlertRules" -}}
{{- if or .Values.alerting.rules .Values.alerting.existingConfigMap.name }}true{{ end }}
{{- end }}

{{/* Where the pod sees its files. */}}
{{- define "studio.path.data" }}/var/lib/studio{{ end }}
{{- define "studio.path.secrets" }}/etc/studio/secrets{{ end }}
{{- define "studio.path.alerting" }}/etc/studio/alerting{{ end }}
{{- define "studio.path.redisTLS" }}/etc/studio/redis-tls{{ end }}
{{- define "studio.path.sentinelTLS" }}/etc/studio/redis-sentinel-tls{{ end }}

{{/*
The referenced secrets in use, as a list of [setting, file name, Secret
name, key]. Each becomes SETTING_FILE (secretsAs: file) or SETTING from a
secretKeyRef (secretsAs: env).
*/}}
{{- define "studio.secretRefs" -}}
{{- $v := .Values }}
{{- $refs := list }}
{{- $refs = append $refs (list "STUDIO_ADMIN_TOKEN" "admin-token" $v.adminToken.existingSecret.name $v.adminToken.existingSecret.key) }}
{{- if and (eq $v.redis.mode "standalone") $v.redis.existingSecret.name }}
{{- $refs = append $refs (list "REDIS_URL" "redis-url" $v.redis.existingSecret.name $v.redis.existingSecret.key) }}
{{- end }}
{{- with $v.redis.auth.existingSecret }}{{ if .name }}
{{- $refs = append $refs (list "REDIS_PASSWORD" "redis-password" .name .key) }}
{{- end }}{{ end }}
{{- with $v.redis.auth.sentinelExistingSecret }}{{ if .name }}
{{- $refs = append $refs (list "REDIS_SENTINEL_PASSWORD" "redis-sentinel-password" .name .key) }}
{{- end }}{{ end }}
{{- if eq $v.database.driver "postgres" }}
{{- $refs = append $refs (list "DATABASE_URL" "database-url" $v.database.existingSecret.name $v.database.existingSecret.key) }}
{{- end }}
{{- with $v.alerting.pagerduty.existingSecret }}{{ if .name }}
{{- $refs = append $refs (list "PAGERDUTY_ROUTING_KEY" "pagerduty-routing-key" .name .key) }}
{{- end }}{{ end }}
{{- with $v.alerting.slack.existingSecret }}{{ if .name }}
{{- $refs = append $refs (list "SLACK_WEBHOOK_URL" "slack-webhook-url" .name .key) }}
{{- end }}{{ end }}
{{- toJson $refs }}
{{- end }}

{{/* Whether "host:port" (or a URL's host) is loopback, as Studio decides it. */}}
{{- define "studio.isLoopback" -}}
{{- $h := regexReplaceAll ":[0-9]*$" . "" | trimPrefix "[" | trimSuffix "]" | lower }}
{{- if or (eq $h "") (eq $h "localhost") (eq $h "::1") (hasPrefix "127." $h) }}true{{ end }}
{{- end }}

{{/*
Checks that need more than the schema. Each failure says what to change.
*/}}
{{- define "studio.validate" -}}
{{- $v := .Values }}
{{- if not $v.image.repository }}
{{- fail "image.repository is required: where you pushed the image `make image` builds (for example registry.example.com/studio)" }}
{{- end }}
{{- if not $v.adminToken.existingSecret.name }}
{{- fail "adminToken.existingSecret.name is required: the Secret holding Studio's admin token (creating sessions, the dashboard), e.g. kubectl create secret generic studio-admin --from-literal=admin-token=\"$(openssl rand -hex 32)\"" }}
{{- end }}

{{- /* Redis. */}}
{{- $r := $v.redis }}
{{- $tls := $r.tls.enabled }}
{{- if eq $r.mode "standalone" }}
  {{- if and $r.url $r.existingSecret.name }}
  {{- fail "redis.url and redis.existingSecret.name are both set: give one (the Secret when the URL carries a password)" }}
  {{- end }}
  {{- if not (or $r.url $r.existingSecret.name) }}
  {{- fail "redis.mode=standalone needs redis.url (no password) or redis.existingSecret.name (a Secret holding the URL with its password)" }}
  {{- end }}
  {{- if or $r.sentinels $r.masterName $r.cluster }}
  {{- fail "redis.mode=standalone: redis.sentinels, redis.masterName and redis.cluster must be empty (set redis.mode to sentinel or cluster)" }}
  {{- end }}
  {{- if $r.readReplicas }}
  {{- fail "redis.readReplicas needs redis.mode=sentinel or cluster: a single Redis has no replicas to read from" }}
  {{- end }}
  {{- if $r.url }}
    {{- if not (regexMatch "^rediss?://[^/@]+(/[0-9]*)?$" $r.url) }}
    {{- fail "redis.url must be redis://host:port[/db] or rediss://host:port[/db] without user or password; a URL with a password belongs in a Secret (redis.existingSecret)" }}
    {{- end }}
    {{- $rediss := hasPrefix "rediss://" $r.url }}
    {{- if and $tls (not $rediss) }}
    {{- fail "redis.tls.enabled with a redis:// URL: Studio needs rediss:// for TLS in standalone mode" }}
    {{- end }}
    {{- $host := regexReplaceAll "^rediss?://([^/]+).*$" $r.url "${1}" }}
    {{- if and (not $rediss) (not $r.allowPlaintext) (not (include "studio.isLoopback" $host)) }}
    {{- fail (printf "redis.url is plaintext redis:// to %s, which is not loopback: Studio refuses that; use rediss:// with redis.tls, or set redis.allowPlaintext=true on a private network" $host) }}
    {{- end }}
  {{- end }}
{{- else if eq $r.mode "sentinel" }}
  {{- if or (not $r.sentinels) (not $r.masterName) }}
  {{- fail "redis.mode=sentinel needs redis.sentinels (host:port list) and redis.masterName" }}
  {{- end }}
{{- else if eq $r.mode "cluster" }}
  {{- if not $r.cluster }}
  {{- fail "redis.mode=cluster needs redis.cluster (seed host:port list)" }}
  {{- end }}
{{- else }}
  {{- fail (printf "redis.mode %q is not one of standalone, sentinel, cluster" (toString $r.mode)) }}
{{- end }}
{{- if ne $r.mode "standalone" }}
  {{- if or $r.url $r.existingSecret.name }}
  {{- fail (printf "redis.url and redis.existingSecret are for standalone mode; in %s mode Studio finds the nodes through redis.%s, and takes credentials from redis.auth" $r.mode (ternary "sentinels" "cluster" (eq $r.mode "sentinel"))) }}
  {{- end }}
  {{- if and (eq $r.mode "sentinel") $r.cluster }}
  {{- fail "redis.mode=sentinel: redis.cluster must be empty" }}
  {{- end }}
  {{- if and (eq $r.mode "cluster") (or $r.sentinels $r.masterName) }}
  {{- fail "redis.mode=cluster: redis.sentinels and redis.masterName must be empty" }}
  {{- end }}
  {{- $addrs := ternary $r.sentinels $r.cluster (eq $r.mode "sentinel") }}
  {{- range $addrs }}
    {{- if not (regexMatch "^(\\[[0-9a-fA-F:]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}$" .) }}
    {{- fail (printf "redis.%s: %q is not host:port" (ternary "sentinels" "cluster" (eq $r.mode "sentinel")) .) }}
    {{- end }}
    {{- if and (not $tls) (not $r.allowPlaintext) (not (include "studio.isLoopback" .)) }}
    {{- fail (printf "redis.%s: %s is not loopback and redis.tls is off: Studio refuses plaintext Redis there; enable redis.tls, or set redis.allowPlaintext=true on a private network" (ternary "sentinels" "cluster" (eq $r.mode "sentinel")) .) }}
    {{- end }}
  {{- end }}
{{- end }}
{{- with $r.auth }}
  {{- if and .username (not .existingSecret.name) }}
  {{- fail "redis.auth.username needs redis.auth.existingSecret: an ACL user needs its password" }}
  {{- end }}
  {{- if and .sentinelUsername (not .sentinelExistingSecret.name) }}
  {{- fail "redis.auth.sentinelUsername needs redis.auth.sentinelExistingSecret" }}
  {{- end }}
  {{- if and .sentinelExistingSecret.name (ne $r.mode "sentinel") }}
  {{- fail "redis.auth.sentinelExistingSecret is the Sentinels' password: only for redis.mode=sentinel" }}
  {{- end }}
  {{- if and .existingSecret.name $r.existingSecret.name }}
  {{- fail "redis.auth.existingSecret and redis.existingSecret (a URL with its password) are both set: give the password in one place" }}
  {{- end }}
{{- end }}
{{- if and $tls (not $r.tls.existingSecret) }}
{{- fail "redis.tls.enabled needs redis.tls.existingSecret: the Secret with the CA bundle (and the client certificate and key for mutual TLS)" }}
{{- end }}
{{- if and $r.tls.sentinel.existingSecret (or (not $tls) (ne $r.mode "sentinel")) }}
{{- fail "redis.tls.sentinel.existingSecret needs redis.mode=sentinel and redis.tls.enabled" }}
{{- end }}

{{- /* The store. */}}
{{- $replicas := int $v.replicaCount }}
{{- if eq $v.database.driver "sqlite" }}
  {{- if or (gt $replicas 1) $v.autoscaling.enabled }}
  {{- fail (printf "database.driver=sqlite keeps sessions in each pod's own emptyDir: with %s every replica would have sessions of its own and lose them on restart. SQLite is for one development replica (replicaCount: 1, autoscaling.enabled: false); use database.driver=postgres with database.existingSecret" (ternary "autoscaling" (printf "replicaCount: %d" $replicas) $v.autoscaling.enabled)) }}
  {{- end }}
{{- else if eq $v.database.driver "postgres" }}
  {{- if not $v.database.existingSecret.name }}
  {{- fail "database.driver=postgres needs database.existingSecret.name: the Secret holding DATABASE_URL (postgres://user:password@host:5432/db)" }}
  {{- end }}
{{- else }}
  {{- fail (printf "database.driver %q is not postgres or sqlite" (toString $v.database.driver)) }}
{{- end }}

{{- /* Alerting. */}}
{{- if and $v.alerting.rules $v.alerting.existingConfigMap.name }}
{{- fail "alerting.rules and alerting.existingConfigMap.name are both set: give one" }}
{{- end }}

{{- /* Shutdown: Kubernetes must not SIGKILL Studio while it drains or stops. */}}
{{- $need := add $v.shutdown.drainSeconds $v.shutdown.timeoutSeconds }}
{{- if not (kindIs "invalid" $v.terminationGracePeriodSeconds) }}
  {{- if le (int $v.terminationGracePeriodSeconds) (int $need) }}
  {{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than shutdown.drainSeconds + shutdown.timeoutSeconds (%d + %d = %d): Kubernetes would kill Studio before it has drained and stopped. Raise it, lower the shutdown values, or leave it null to derive it" (int $v.terminationGracePeriodSeconds) (int $v.shutdown.drainSeconds) (int $v.shutdown.timeoutSeconds) (int $need)) }}
  {{- end }}
{{- end }}

{{- /* Availability. */}}
{{- with $v.podDisruptionBudget }}
{{- if and .enabled (eq (eq (toString .maxUnavailable) "") (eq (toString .minAvailable) "")) }}
{{- fail "podDisruptionBudget: set exactly one of maxUnavailable and minAvailable (the other \"\")" }}
{{- end }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas is greater than autoscaling.maxReplicas" }}
{{- end }}

{{- /* Prometheus Operator objects need their API. */}}
{{- range $kind, $on := dict "ServiceMonitor" $v.metrics.serviceMonitor.enabled "PrometheusRule" $v.metrics.prometheusRule.enabled }}
{{- if and $on (not $v.metrics.assumeOperatorCRDs) (not ($.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" $kind))) }}
{{- fail (printf "metrics.%s.enabled, but the cluster does not serve monitoring.coreos.com/v1 %s: install the Prometheus Operator's CRDs, or set metrics.assumeOperatorCRDs=true to render it anyway (helm template without --api-versions)" (ternary "serviceMonitor" "prometheusRule" (eq $kind "ServiceMonitor")) $kind) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Studio's environment, as a YAML list (extraEnv is added by the Deployment). */}}
{{- define "studio.env" -}}
{{- $v := .Values }}
{{- $r := $v.redis }}
- name: STUDIO_ADDR
  value: {{ printf ":%d" (int $v.containerPort) | quote }}
# This instance's name in the cross-instance hot-key view: the pod's name.
- name: STUDIO_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: STUDIO_SHUTDOWN_DRAIN
  value: {{ printf "%ds" (int $v.shutdown.drainSeconds) | quote }}
- name: STUDIO_SHUTDOWN_TIMEOUT
  value: {{ printf "%ds" (int $v.shutdown.timeoutSeconds) | quote }}
{{- range (include "studio.secretRefs" . | fromJsonArray) }}
{{- if eq $v.secretsAs "file" }}
- name: {{ index . 0 }}_FILE
  value: {{ printf "%s/%s" (include "studio.path.secrets" $) (index . 1) | quote }}
{{- else }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ index . 2 | quote }}
      key: {{ index . 3 | quote }}
{{- end }}
{{- end }}
{{- if and (eq $r.mode "standalone") $r.url }}
- name: REDIS_URL
  value: {{ $r.url | quote }}
{{- else if eq $r.mode "sentinel" }}
- name: REDIS_SENTINELS
  value: {{ join "," $r.sentinels | quote }}
- name: REDIS_MASTER_NAME
  value: {{ $r.masterName | quote }}
{{- else if eq $r.mode "cluster" }}
- name: REDIS_CLUSTER
  value: {{ join "," $r.cluster | quote }}
{{- end }}
{{- with $r.auth.username }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- with $r.auth.sentinelUsername }}
- name: REDIS_SENTINEL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if $r.readReplicas }}
- name: REDIS_READ_REPLICAS
  value: "true"
{{- end }}
{{- if $r.allowPlaintext }}
- name: REDIS_ALLOW_PLAINTEXT
  value: "true"
{{- end }}
{{- if $r.tls.enabled }}
- name: REDIS_TLS_CA_FILE
  value: {{ printf "%s/ca.crt" (include "studio.path.redisTLS" .) | quote }}
{{- if $r.tls.clientCertificate }}
- name: REDIS_TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" (include "studio.path.redisTLS" .) | quote }}
- name: REDIS_TLS_KEY_FILE
  value: {{ printf "%s/tls.key" (include "studio.path.redisTLS" .) | quote }}
{{- end }}
{{- with $r.tls.serverName }}
- name: REDIS_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if $r.tls.sentinel.existingSecret }}
- name: REDIS_TLS_SENTINEL_CA_FILE
  value: {{ printf "%s/ca.crt" (include "studio.path.sentinelTLS" .) | quote }}
{{- if $r.tls.sentinel.clientCertificate }}
- name: REDIS_TLS_SENTINEL_CERT_FILE
  value: {{ printf "%s/tls.crt" (include "studio.path.sentinelTLS" .) | quote }}
- name: REDIS_TLS_SENTINEL_KEY_FILE
  value: {{ printf "%s/tls.key" (include "studio.path.sentinelTLS" .) | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $v.database.driver "sqlite" }}
- name: DATABASE_URL
  value: {{ printf "sqlite:%s" $v.database.sqlitePath | quote }}
{{- end }}
{{- if include "studio.hasAlertRules" . }}
- name: STUDIO_ALERT_RULES
  value: {{ printf "%s/rules.yaml" (include "studio.path.alerting" .) | quote }}
{{- end }}
{{- with $v.alerting.pagerduty.eventsURL }}
- name: PAGERDUTY_EVENTS_URL
  value: {{ . | quote }}
{{- end }}
{{- $s := $v.settings }}
{{- /* [name, value, kind]: kind "text" is set when non-empty, the others when not null. */}}
{{- range (list
    (list "STUDIO_LOG_LEVEL" $s.logLevel "text")
    (list "STUDIO_L1_TTL" $s.l1TTL "text")
    (list "STUDIO_CACHE_TTL" $s.cacheTTL "text")
    (list "STUDIO_SLOW_COMMAND_THRESHOLD" $s.slowCommandThreshold "text")
    (list "STUDIO_MONITOR_INTERVAL" $s.monitorInterval "text")
    (list "STUDIO_METRICS_ADMIN_ONLY" $s.metricsAdminOnly "bool")
    (list "STUDIO_HOTKEY_THRESHOLD" $s.hotkeyThreshold "int")
    (list "STUDIO_WARM_ON_START" $s.warmOnStart "bool")
    (list "STUDIO_WARM_LIMIT" $s.warmLimit "int")
    (list "STUDIO_WARM_RATE" $s.warmRate "int")
    (list "STUDIO_EXTERNAL_URL" $s.externalURL "text")
    (list "STUDIO_STORE_TIMEOUT" $s.storeTimeout "text")
    (list "STUDIO_CLOCK_SKEW" $s.clockSkew "text")
    (list "STUDIO_MAX_CONNS" $s.maxConns "int")
    (list "STUDIO_IDLE_TIMEOUT" $s.idleTimeout "text")
    (list "STUDIO_TRUSTED_PROXIES" (join "," ($s.trustedProxies | default list)) "text")
    (list "STUDIO_ACCESS_LOG" $s.accessLog "text")
    (list "STUDIO_ACCESS_LOG_SLOW" $s.accessLogSlow "text")
    (list "STUDIO_TRACE_BACKGROUND" $s.traceBackground "bool")
    (list "GOGC" $s.gogc "text")
    (list "GOMEMLIMIT" $s.goMemLimit "text")
    (list "OTEL_TRACES_EXPORTER" $v.tracing.exporter "text")
    (list "OTEL_EXPORTER_OTLP_ENDPOINT" $v.tracing.endpoint "text")
    (list "OTEL_EXPORTER_OTLP_PROTOCOL" $v.tracing.protocol "text")
    (list "OTEL_TRACES_SAMPLER" $v.tracing.sampler "text")
    (list "OTEL_TRACES_SAMPLER_ARG" $v.tracing.samplerArg "text")
    (list "OTEL_SERVICE_NAME" $v.tracing.serviceName "text")) }}
{{- $name := index . 0 }}{{ $val := index . 1 }}{{ $kind := index . 2 }}
{{- if eq $kind "text" }}
{{- if $val }}
- name: {{ $name }}
  value: {{ $val | toString | quote }}
{{- end }}
{{- else if not (kindIs "invalid" $val) }}
- name: {{ $name }}
  value: {{ ternary (printf "%d" (int64 $val)) (toString $val) (eq $kind "int") | quote }}
{{- end }}
{{- end }}
{{- end }}
