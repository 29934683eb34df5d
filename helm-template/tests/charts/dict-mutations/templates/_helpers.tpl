{{- define "mut.addDefaults" -}}
{{- $_ := set . "added" "by-helper" -}}
{{- $_ := set .config "c" "three" -}}
{{- $_ := unset .config "a" -}}
{{- end -}}
{{- define "mut.counter" -}}
{{- $_ := set .state "count" (add1 .state.count) -}}
{{ .state.count }}
{{- end -}}
