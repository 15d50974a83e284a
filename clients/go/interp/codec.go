package interp

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoimpl"
)

// codec marshals messages with google.golang.org/protobuf (API v2). The Client forces it on its
// connection (grpc.ForceCodec), so the stubs work whichever github.com/golang/protobuf the
// program links: grpc's default codec goes through github.com/golang/protobuf/proto, and its
// v1.3 releases (Debian's golang-github-golang-protobuf-1-3-dev, for one) cannot marshal the
// oneofs of API v2 messages. Older (API v1) messages, such as grpc's own health messages in some
// distributions, are wrapped.
type codec struct{}

// Name is the content-subtype of the proto codec.
func (codec) Name() string { return "proto" }

// String is Name, for grpc's older Codec interface.
func (codec) String() string { return "proto" }

func messageOf(v interface{}) (protoreflect.ProtoMessage, error) {
	switch m := v.(type) {
	case protoreflect.ProtoMessage:
		return m, nil
	case interface {
		Reset()
		String() string
		ProtoMessage()
	}:
		return protoimpl.X.ProtoMessageV2Of(m), nil
	default:
		return nil, fmt.Errorf("interp: cannot marshal %T: not a protobuf message", v)
	}
}

// Marshal encodes a message.
func (codec) Marshal(v interface{}) ([]byte, error) {
	m, err := messageOf(v)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(m)
}

// Unmarshal decodes into a message.
func (codec) Unmarshal(data []byte, v interface{}) error {
	m, err := messageOf(v)
	if err != nil {
		return err
	}
	return proto.Unmarshal(data, m)
}
