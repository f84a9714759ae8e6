package aws

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretbroker/secretbroker/providers"
)

// scriptedAPI answers each operation from a queue of errors (nil = success)
// and records the order of calls.
type scriptedAPI struct {
	t       *testing.T
	answers map[string][]error
	calls   []string
}

func (f *scriptedAPI) next(op string) error {
	f.calls = append(f.calls, op)
	q := f.answers[op]
	if len(q) == 0 {
		f.t.Fatalf("unexpected %s call (calls so far %v)", op, f.calls)
	}
	f.answers[op] = q[1:]
	return q[0]
}

func (f *scriptedAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{}, f.next("GetSecretValue")
}

func (f *scriptedAPI) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	return &secretsmanager.PutSecretValueOutput{}, f.next("PutSecretValue")
}

func (f *scriptedAPI) CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	return &secretsmanager.CreateSecretOutput{}, f.next("CreateSecret")
}

func (f *scriptedAPI) RestoreSecret(ctx context.Context, in *secretsmanager.RestoreSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.RestoreSecretOutput, error) {
	return &secretsmanager.RestoreSecretOutput{}, f.next("RestoreSecret")
}

func (f *scriptedAPI) DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error) {
	return &secretsmanager.DeleteSecretOutput{}, f.next("DeleteSecret")
}

func TestPutPaths(t *testing.T) {
	scheduled := func() error {
		m := "You can't create this secret because a secret with this name is already scheduled for deletion."
		return &types.InvalidRequestException{Message: &m}
	}
	cases := []struct {
		name    string
		answers map[string][]error
		calls   []string
		code    providers.Code
	}{
		{"existing secret", map[string][]error{"PutSecretValue": {nil}}, []string{"PutSecretValue"}, providers.OK},
		{"new secret", map[string][]error{"PutSecretValue": {&types.ResourceNotFoundException{}}, "CreateSecret": {nil}},
			[]string{"PutSecretValue", "CreateSecret"}, providers.OK},
		{"created meanwhile by another writer", map[string][]error{
			"PutSecretValue": {&types.ResourceNotFoundException{}, nil}, "CreateSecret": {&types.ResourceExistsException{}}},
			[]string{"PutSecretValue", "CreateSecret", "PutSecretValue"}, providers.OK},
		{"scheduled for deletion", map[string][]error{
			"PutSecretValue": {scheduled(), nil}, "RestoreSecret": {nil}},
			[]string{"PutSecretValue", "RestoreSecret", "PutSecretValue"}, providers.OK},
		{"force-deleted name still in its window", map[string][]error{
			"PutSecretValue": {&types.ResourceNotFoundException{}, nil}, "CreateSecret": {scheduled()}, "RestoreSecret": {nil}},
			[]string{"PutSecretValue", "CreateSecret", "RestoreSecret", "PutSecretValue"}, providers.OK},
		{"restore denied", map[string][]error{
			"PutSecretValue": {scheduled()}, "RestoreSecret": {&types.InvalidRequestException{}}},
			[]string{"PutSecretValue", "RestoreSecret"}, providers.FailedPrecondition},
		{"kms refuses", map[string][]error{"PutSecretValue": {&types.EncryptionFailure{}}},
			[]string{"PutSecretValue"}, providers.FailedPrecondition},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api := &scriptedAPI{t: t, answers: c.answers}
			p := newProvider(api, Config{Region: "eu-west-1", Writable: true})
			err := p.Put(context.Background(), providers.Ref{Name: "n"}, &providers.Secret{Attributes: map[string]string{"password": "x"}})
			if got := providers.CodeOf(err); got != c.code {
				t.Fatalf("Put: %v classified %v, want %v", err, got, c.code)
			}
			if len(api.calls) != len(c.calls) {
				t.Fatalf("calls %v, want %v", api.calls, c.calls)
			}
			for i := range c.calls {
				if api.calls[i] != c.calls[i] {
					t.Fatalf("calls %v, want %v", api.calls, c.calls)
				}
			}
		})
	}
}

func TestGetEmptyVersion(t *testing.T) {
	api := &scriptedAPI{t: t, answers: map[string][]error{"GetSecretValue": {nil}}}
	p := newProvider(api, Config{Region: "eu-west-1"})
	_, err := p.Get(context.Background(), providers.Ref{Name: "n"})
	if got := providers.CodeOf(err); got != providers.Internal {
		t.Fatalf("a version with no value: %v classified %v, want Internal", err, got)
	}
}
