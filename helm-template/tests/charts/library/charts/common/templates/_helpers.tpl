{{- define "common.fullname" -}}
{{ printf "%s-%s" .Release.Name .Values.name | trunc 63 | trimSuffix "-" }}
{{- end -}}
{{- define "common.labels" -}}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "common.selector" -}}
app: {{ .name }}
overridden: "no"
{{- end -}}
