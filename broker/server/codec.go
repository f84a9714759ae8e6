package server

import (
	"context"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// invalidUTF8Field is the field number under which the codec leaves, in a
// request's unknown fields, the name of a string field that was not valid
// UTF-8. It is far above any field the API uses.
const invalidUTF8Field = 536_870_000

// Codec is the server's protobuf codec. It differs from grpc-go's own in one
// way: a request whose string field is not valid UTF-8 is decoded without
// that field and marked, so that the interceptor of this package answers
// InvalidArgument naming the field (grpc-go would answer Internal).
type Codec struct{ inner encoding.CodecV2 }

// NewCodec returns the codec; install it with grpc.ForceServerCodecV2.
func NewCodec() Codec { return Codec{inner: encoding.GetCodecV2(gproto.Name)} }

// Name implements encoding.CodecV2.
func (c Codec) Name() string { return gproto.Name }

// Marshal implements encoding.CodecV2.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) { return c.inner.Marshal(v) }

// Unmarshal implements encoding.CodecV2.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.inner.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	buf := data.Materialize()
	name, cleaned, found := stripInvalidUTF8(buf, m.ProtoReflect().Descriptor())
	if !found {
		return err
	}
	if uerr := proto.Unmarshal(cleaned, m); uerr != nil {
		return err
	}
	var mark []byte
	mark = protowire.AppendTag(mark, invalidUTF8Field, protowire.BytesType)
	mark = protowire.AppendString(mark, name)
	m.ProtoReflect().SetUnknown(append(m.ProtoReflect().GetUnknown(), mark...))
	return nil
}

// stripInvalidUTF8 returns the message without its top-level string fields
// that are not valid UTF-8, and the name of the first such field.
func stripInvalidUTF8(b []byte, md protoreflect.MessageDescriptor) (string, []byte, bool) {
	var out []byte
	name := ""
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return "", nil, false
		}
		field := b[:n+m]
		b = b[n+m:]
		if fd := md.Fields().ByNumber(num); fd != nil && fd.Kind() == protoreflect.StringKind && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(field[n:])
			if !utf8.Valid(v) {
				if name == "" {
					name = string(fd.Name())
				}
				continue
			}
		}
		out = append(out, field...)
	}
	return name, out, name != ""
}

// invalidField returns the field the codec marked as not valid UTF-8.
func invalidField(req any) (string, bool) {
	m, ok := req.(proto.Message)
	if !ok {
		return "", false
	}
	u := m.ProtoReflect().GetUnknown()
	for len(u) > 0 {
		num, typ, n := protowire.ConsumeTag(u)
		if n < 0 {
			return "", false
		}
		if num == invalidUTF8Field && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(u[n:])
			return string(v), true
		}
		k := protowire.ConsumeFieldValue(num, typ, u[n:])
		if k < 0 {
			return "", false
		}
		u = u[n+k:]
	}
	return "", false
}

// ValidateUnary rejects a request the codec marked (a string field that is
// not valid UTF-8) with InvalidArgument naming the field, before the
// handler runs.
func ValidateUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if f, ok := invalidField(req); ok {
			return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("field %s is not valid UTF-8", f))
		}
		return handler(ctx, req)
	}
}
