{{- define "common.selector" -}}
app: {{ .name }}
overridden: "by-parent"
{{- range $k, $v := .extra }}
{{ $k }}: {{ $v }}
{{- end }}
{{- end -}}
