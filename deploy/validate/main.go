// Command validate checks rendered Kubernetes manifests, such as the output
// of `helm template`, offline: no cluster and no schema download.
//
// Every document is decoded into the typed object of the k8s.io/api release
// this module pins, the way the API server decodes it (sigs.k8s.io/json:
// case-sensitive, unknown and duplicate fields rejected), so a misspelt or
// misplaced field, a wrong type or an unknown apiVersion/kind is an error.
// Then object metadata and label selectors go through apimachinery's own
// validation, and the objects of one render are checked against each other:
// selectors select the Deployment's pods, named ports exist, the pods run
// with the chart's hardened security context.
//
// This is not the API server's full validation: required fields and value
// ranges that the server enforces are checked by the schema step of
// scripts/ci-deploy.sh (schema/validate.mjs, the OpenAPI schemas of the
// kubernetes-models npm packages), which reads the JSON this command
// writes with -json.
//
// Usage:
//
//	validate [-json docs.json] [-configmaps DIR] FILE...   (FILE "-" is standard input)
//
// It exits 0 when every document passes, 1 when any fails, 2 on misuse.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// readInput returns the content of name, "-" being r.
func readInput(name string, r io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(r)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading manifests: %w", err)
	}
	return b, nil
}
