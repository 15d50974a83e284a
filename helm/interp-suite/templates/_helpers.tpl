{{/* Names ---------------------------------------------------------------------------------- */}}

{{- define "interp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "interp.fullname" -}}
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

{{/* Labels: every resource; selector labels pick the release's pods. */}}
{{- define "interp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "interp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "interp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "interp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of the Ray pods of one group: (dict "root" $ "component" "ray-worker-cpu"). */}}
{{- define "interp.rayPodLabels" -}}
{{ include "interp.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
interp-suite/ray: "true"
{{- end -}}

{{/* Pods the gateway group always has: one per gateway replica (the replicas, or autoscaling's
     min_replicas). rayservice.yaml sizes the group with it, pdb.yaml budgets from it. */}}
{{- define "interp.gatewayMinPods" -}}
{{- $gw := .Values.services.gateway -}}
{{- if $gw.autoscaling -}}
{{- int ($gw.autoscaling.min_replicas | default 1) -}}
{{- else -}}
{{- int ($gw.num_replicas | default 1) -}}
{{- end -}}
{{- end -}}

{{/* The gateway pods' terminationGracePeriodSeconds: it must cover the preStop hook, i.e.
     gateway.drainSeconds plus up to 16 s for `ray stop` (its default --grace-period), or the
     kubelet kills the pod in the middle of it. */}}
{{- define "interp.gatewayGracePeriod" -}}
{{- $gw := .Values.gateway -}}
{{- $grace := int $gw.terminationGracePeriodSeconds -}}
{{- if lt $grace (add (int $gw.drainSeconds) 16 | int) -}}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%d) must be at least gateway.drainSeconds (%d) + 16 s for `ray stop`" $grace (int $gw.drainSeconds)) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}

{{/* Images: pinned tags, never "latest". */}}
{{- define "interp.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .gpu -}}
{{- $tag = .root.Values.image.cudaTag | default (printf "%s-cuda" .root.Chart.AppVersion) -}}
{{- end -}}
{{- if eq $tag "latest" -}}
{{- fail "image tags must be pinned: \"latest\" is refused" -}}
{{- end -}}
{{- printf "%s:%s" .root.Values.image.repository $tag -}}
{{- end -}}

{{/* Secrets ---------------------------------------------------------------------------------- */}}

{{- define "interp.apiKeysSecret" -}}
{{- .Values.apiKeys.existingSecret | default (printf "%s-api-keys" (include "interp.fullname" .)) -}}
{{- end -}}

{{- define "interp.s3Secret" -}}
{{- if .Values.objectStorage.existingSecret -}}
{{- .Values.objectStorage.existingSecret -}}
{{- else if .Values.objectStorage.minio.enabled -}}
{{- printf "%s-s3" (include "interp.fullname" .) -}}
{{- else -}}
{{- fail "objectStorage.existingSecret is required with an external S3 endpoint (the chart never takes credentials as values)" -}}
{{- end -}}
{{- end -}}

{{/* Object storage ------------------------------------------------------------------------- */}}

{{- define "interp.minioName" -}}
{{- printf "%s-minio" (include "interp.fullname" .) -}}
{{- end -}}

{{- define "interp.s3Endpoint" -}}
{{- if .Values.objectStorage.minio.enabled -}}
{{- printf "%s.%s.svc:9000" (include "interp.minioName" .) .Release.Namespace -}}
{{- else -}}
{{- required "objectStorage.external.endpoint (host:port) is required when objectStorage.minio.enabled is false" .Values.objectStorage.external.endpoint -}}
{{- end -}}
{{- end -}}

{{/* Fleet settings: the YAML of deploy/settings.example.yaml, as every service reads it. */}}

{{- define "interp.modelCacheDir" -}}/var/cache/interp/models{{- end -}}

{{- define "interp.settings" -}}
{{- $reserved := list "host" "port" "api_keys" "require_api_key" "store_url" "store_secure" "store_region" "model_cache_dir" "deployments" "ray" -}}
{{- range $key := $reserved -}}
{{- if hasKey $.Values.settings $key -}}
{{- fail (printf "settings.%s is set by the chart (see values.yaml: gateway, apiKeys, objectStorage, modelCache, services)" $key) -}}
{{- end -}}
{{- end -}}
{{- $s := deepCopy .Values.settings -}}
{{- $_ := set $s "host" "0.0.0.0" -}}
{{- $_ := set $s "port" (int .Values.gateway.port) -}}
{{- /* Keys come only from the Secret, through INTERP_API_KEYS: never the development key. */ -}}
{{- $_ := set $s "api_keys" (dict) -}}
{{- $_ := set $s "require_api_key" .Values.apiKeys.required -}}
{{- $_ := set $s "store_url" (printf "s3://%s/%s" (include "interp.s3Endpoint" .) .Values.objectStorage.bucket) -}}
{{- $_ := set $s "store_secure" (and (not .Values.objectStorage.minio.enabled) .Values.objectStorage.external.secure) -}}
{{- if and (not .Values.objectStorage.minio.enabled) .Values.objectStorage.external.region -}}
{{- $_ := set $s "store_region" .Values.objectStorage.external.region -}}
{{- end -}}
{{- $_ := set $s "model_cache_dir" (include "interp.modelCacheDir" .) -}}
{{- $deployments := dict -}}
{{- range $name, $svc := .Values.services -}}
{{- $d := omit $svc "workerGroup" -}}
{{- if eq $name "gateway" -}}
{{- if hasKey $svc "workerGroup" -}}
{{- fail "services.gateway runs on the gateway pods and takes no workerGroup" -}}
{{- end -}}
{{- if gt (float64 ($svc.num_gpus | default 0)) 0.0 -}}
{{- fail "services.gateway.num_gpus must be 0" -}}
{{- end -}}
{{- $_ := set $d "resources" (dict "interp_pool_gateway" 1) -}}
{{- else -}}
{{- $group := required (printf "services.%s.workerGroup is required" $name) $svc.workerGroup -}}
{{- $spec := index $.Values.workerGroups $group -}}
{{- if not $spec -}}
{{- fail (printf "services.%s.workerGroup %q is not a worker group (workerGroups: %s)" $name $group (keys $.Values.workerGroups | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if and (gt (float64 ($svc.num_gpus | default 0)) 0.0) (eq (int ($spec.gpus | default 0)) 0) -}}
{{- fail (printf "services.%s asks for num_gpus but worker group %q has no GPUs" $name $group) -}}
{{- end -}}
{{- $_ := set $d "resources" (dict (printf "interp_pool_%s" $group) 1) -}}
{{- end -}}
{{- $_ := set $deployments $name $d -}}
{{- end -}}
{{- $_ := set $s "deployments" $deployments -}}
{{- toYaml $s -}}
{{- end -}}

{{/* The Serve config (serve.config.serve_config in the project): one application whose builder
     reads the settings above. */}}
{{- define "interp.serveConfig" -}}
{{- $app := dict "name" "interp" "import_path" "interp_services.serve.app:build_from_args" "route_prefix" nil "args" (dict "settings" (include "interp.settings" . | fromYaml)) -}}
{{- toYaml (dict "proxy_location" "Disabled" "applications" (list $app)) -}}
{{- end -}}

{{/* Environment of every container running the project's code: secrets by reference only. */}}
{{- define "interp.env" -}}
- name: INTERP_API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "interp.apiKeysSecret" . }}
      key: {{ .Values.apiKeys.secretKey }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "interp.s3Secret" . }}
      key: {{ .Values.objectStorage.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "interp.s3Secret" . }}
      key: {{ .Values.objectStorage.secretAccessKeyKey }}
{{- if .Values.hub.existingSecret }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.hub.existingSecret }}
      key: {{ .Values.hub.tokenKey }}
{{- end }}
- name: PYTHONUNBUFFERED
  value: "1"
{{- end -}}

{{/* Ray's resources string for rayStartParams: a JSON object, quoted the way `ray start` takes it. */}}
{{- define "interp.rayResources" -}}
{{- toJson . | toJson | quote -}}
{{- end -}}

{{/* The pod template of one Ray group.
     (dict "root" $ "kind" "head|worker|gateway" "component" "..." "gpus" N "resources" {...}
           "nodeSelector" {...} "tolerations" [...] "affinity" {...}) */}}
{{- define "interp.rayPod" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
metadata:
  labels:
    {{- include "interp.rayPodLabels" (dict "root" $root "component" .component) | nindent 4 }}
spec:
  {{- with $values.image.pullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  securityContext:
    {{- toYaml $values.podSecurityContext | nindent 4 }}
  {{- with .nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if eq .kind "gateway" }}
  terminationGracePeriodSeconds: {{ include "interp.gatewayGracePeriod" $root }}
  {{- end }}
  containers:
    - name: {{ if eq .kind "head" }}ray-head{{ else }}ray-worker{{ end }}
      image: {{ include "interp.image" (dict "root" $root "gpu" (gt (int .gpus) 0)) }}
      imagePullPolicy: {{ $values.image.pullPolicy }}
      securityContext:
        {{- toYaml $values.securityContext | nindent 8 }}
      env:
        {{- include "interp.env" $root | nindent 8 }}
      ports:
        {{- if eq .kind "head" }}
        - {name: gcs-server, containerPort: 6379}
        - {name: dashboard, containerPort: 8265}
        - {name: client, containerPort: 10001}
        {{- end }}
        {{- if eq .kind "gateway" }}
        - {name: grpc, containerPort: {{ $values.gateway.port }}}
        {{- end }}
        - {name: metrics, containerPort: {{ $values.ray.metricsPort }}}
      {{- $resources := deepCopy (.resources | default dict) }}
      {{- if gt (int .gpus) 0 }}
      {{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" (int .gpus)) ($resources.limits | default dict)) }}
      {{- $_ := set $resources "requests" (merge (dict "nvidia.com/gpu" (int .gpus)) ($resources.requests | default dict)) }}
      {{- end }}
      resources:
        {{- toYaml $resources | nindent 8 }}
      {{- if eq .kind "gateway" }}
      # The gRPC health protocol (grpc.health.v1) on the gateway's port: "liveness" is SERVING
      # while the gateway's server runs; the overall status once every service behind it
      # answers, so a pod takes traffic only when its fleet can serve it.
      startupProbe:
        grpc: {port: {{ $values.gateway.port }}, service: liveness}
        periodSeconds: 10
        failureThreshold: 90
      readinessProbe:
        grpc: {port: {{ $values.gateway.port }}}
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 3
      livenessProbe:
        grpc: {port: {{ $values.gateway.port }}, service: liveness}
        periodSeconds: 10
        timeoutSeconds: 5
        failureThreshold: 6
      {{- else }}
      # Ray's own health endpoints (set here, so KubeRay does not inject its Serve-proxy check:
      # the fleet runs without Serve's HTTP proxy).
      {{- $check := "wget -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success" }}
      {{- if eq .kind "head" }}
      {{- $check = printf "%s && wget -T 2 -q -O- http://localhost:8265/api/gcs_healthz | grep success" $check }}
      {{- end }}
      readinessProbe:
        exec:
          command: ["bash", "-c", {{ $check | quote }}]
        initialDelaySeconds: 10
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 10
      livenessProbe:
        exec:
          command: ["bash", "-c", {{ $check | quote }}]
        initialDelaySeconds: 30
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 120
      {{- end }}
      lifecycle:
        preStop:
          exec:
            {{- if eq .kind "gateway" }}
            # A deleted pod leaves the Service's endpoints at once, but kube-proxy and ingress
            # controllers take a few seconds to notice; until drainSeconds have passed the
            # gateway keeps serving (new calls on open connections included), then Ray stops.
            command: ["/bin/sh", "-c", "sleep {{ int $values.gateway.drainSeconds }}; ray stop"]
            {{- else }}
            command: ["/bin/sh", "-c", "ray stop"]
            {{- end }}
      volumeMounts:
        - {name: dshm, mountPath: /dev/shm}
        {{- if eq .kind "worker" }}
        - {name: model-cache, mountPath: {{ include "interp.modelCacheDir" $root }}}
        {{- end }}
  volumes:
    - name: dshm
      emptyDir:
        medium: Memory
        sizeLimit: {{ $values.ray.shmSizeLimit }}
    {{- if eq .kind "worker" }}
    - name: model-cache
      {{- if $values.modelCache.existingClaim }}
      persistentVolumeClaim:
        claimName: {{ $values.modelCache.existingClaim }}
      {{- else }}
      emptyDir:
        sizeLimit: {{ $values.modelCache.sizeLimit }}
      {{- end }}
    {{- end }}
{{- end -}}
