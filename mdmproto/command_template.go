package mdmproto

import (
	"bytes"
	"fmt"
)

// CommandTemplate builds many copies of one command, each with its own
// CommandUUID, encoding the plist once: sending the same signed profile to a
// fleet costs one encoding, not one per device.
type CommandTemplate struct {
	body []byte
	at   int // offset of the CommandUUID in body
}

// NewCommandTemplate encodes requestType's command once (see NewCommand).
func NewCommandTemplate(requestType string, payload map[string]any) (*CommandTemplate, error) {
	placeholder, body, err := NewCommand(requestType, payload)
	if err != nil {
		return nil, err
	}
	// A random UUID appears in the body exactly once unless the payload
	// holds it too, which a fresh random value makes vanishingly unlikely;
	// check rather than trust.
	if bytes.Count(body, []byte(placeholder)) != 1 {
		return nil, fmt.Errorf("command template: CommandUUID is not unique in the %s plist", requestType)
	}
	return &CommandTemplate{body: body, at: bytes.Index(body, []byte(placeholder))}, nil
}

// Build returns a copy of the command with a fresh CommandUUID.
func (t *CommandTemplate) Build() (uuid string, body []byte) {
	uuid = NewUUID()
	body = bytes.Clone(t.body)
	copy(body[t.at:], uuid)
	return uuid, body
}
