//! Kustomize, built in: renders a folder holding a kustomization file the way
//! `kustomize build` does, for the fields listed in docs/configuration.md.
