{{/* Name prefix for every object: the release name, plus the chart name unless already in it. */}}
{{- define "kubepulse.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object; call with (dict "ctx" $ "component" "prometheus"). */}}
{{- define "kubepulse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{ include "kubepulse.selectorLabels" . }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The stable subset of the labels, used in selectors (immutable once deployed). */}}
{{/* deploy/prometheus/prometheus.yml discovers kubepulse's Services by part-of/component
     (and node_exporter by name), so these label values are a contract with it. */}}
{{- define "kubepulse.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/part-of: kubepulse
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* "repository:tag", refusing a missing or `latest` tag; call with (dict "image" X "default" "tag"). */}}
{{- define "kubepulse.image" -}}
{{- $tag := .image.tag | default .default | toString -}}
{{- if or (not $tag) (eq $tag "latest") -}}
{{- fail (printf "image %s: set a pinned tag (not empty, not latest)" .image.repository) -}}
{{- end -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}

{{/* The container securityContext every container gets. */}}
{{- define "kubepulse.securityContext" -}}
{{ toYaml .Values.securityContext }}
{{- end -}}

{{/* A pod's scheduling fields; call with the component's values. */}}
{{- define "kubepulse.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A file of the stack content under files/, failing with its repository path if absent. */}}
{{- define "kubepulse.requireFile" -}}
{{- $content := .ctx.Files.Get .path -}}
{{- if not $content -}}
{{- fail (printf "%s is missing: the chart reads it from deploy/%s (files/ links there)" .path (trimPrefix "files/" .path)) -}}
{{- end -}}
{{- $content -}}
{{- end -}}
