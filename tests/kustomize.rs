//! Built-in kustomize against `kubectl kustomize`: each fixture rendered both ways.
