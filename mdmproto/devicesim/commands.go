package devicesim

import (
	"context"
	"fmt"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
)

// Report sends a command report (Idle: uuid empty) with extra result fields
// and returns the next command, or nil when the server has none.
func (d *Device) Report(ctx context.Context, status, uuid string, fields map[string]any) (*Command, error) {
	msg := map[string]any{"UDID": d.UDID, "Status": status}
	if uuid != "" {
		msg["CommandUUID"] = uuid
	}
	for k, v := range fields {
		msg[k] = v
	}
	body, err := plist.Marshal(msg)
	if err != nil {
		return nil, err
	}
	out, err := d.Send(ctx, d.Profile.ServerURL, "application/x-apple-aspen-mdm", body)
	if err != nil {
		return nil, err
	}
	return parseCommand(out)
}

func parseCommand(body []byte) (*Command, error) {
	if len(body) == 0 {
		return nil, nil
	}
	var c mdmproto.Command
	if err := mdmproto.UnmarshalPlist(body, &c); err != nil {
		return nil, fmt.Errorf("server sent a malformed command: %w", err)
	}
	rt, _ := c.Command["RequestType"].(string)
	if c.CommandUUID == "" || rt == "" {
		return nil, fmt.Errorf("server sent a command without CommandUUID or RequestType")
	}
	return &Command{UUID: c.CommandUUID, RequestType: rt, Fields: c.Command, Raw: body}, nil
}

// Connect is what a device does after a push: Idle, then answer each command
// until the server has none. It returns how many commands it answered.
func (d *Device) Connect(ctx context.Context) (int, error) {
	cmd, err := d.Report(ctx, mdmproto.StatusIdle, "", nil)
	n := 0
	for err == nil && cmd != nil {
		if renewed, rerr := d.installEnrollmentProfile(ctx, cmd); renewed && rerr != nil {
			return n, rerr
		}
		status, fields := d.answer(cmd)
		n++
		cmd, err = d.Report(ctx, status, cmd.UUID, fields)
	}
	return n, err
}

func (d *Device) answer(cmd *Command) (string, map[string]any) {
	if d.Answer != nil {
		return d.Answer(cmd)
	}
	if status, fields, ok := d.answerProfile(cmd); ok {
		return status, fields
	}
	if cmd.RequestType == "RotateFileVaultKey" {
		return d.rotateFileVaultKey(cmd)
	}
	return mdmproto.StatusAcknowledged, d.DefaultResult(cmd)
}

// DefaultResult is a plausible result for the query commands orchard reads.
func (d *Device) DefaultResult(cmd *Command) map[string]any {
	switch cmd.RequestType {
	case "DeviceInformation":
		return map[string]any{"QueryResponses": map[string]any{
			"DeviceName": d.DeviceName, "Model": d.Model, "ModelName": "MacBook Pro", "ProductName": d.ProductName,
			"OSVersion": d.OSVersion, "BuildVersion": d.BuildVersion, "SerialNumber": d.SerialNumber,
			"IsAppleSilicon": true, "IsSupervised": true, "UDID": d.UDID, "SoftwareUpdateDeviceID": d.SoftwareUpdateDeviceID,
		}}
	case "SecurityInfo":
		info := map[string]any{
			"FDE_Enabled": true,
			"ManagementStatus": map[string]any{
				"EnrolledViaDEP": false, "UserApprovedEnrollment": true, "IsActivationLockManageable": true,
			},
		}
		d.securityInfoFileVault(info)
		return map[string]any{"SecurityInfo": info}
	}
	return nil
}

// AnswerCommand is the answer the device gives a command by default (its
// profiles, then plausible query results), for Answer hooks that wrap it.
func (d *Device) AnswerCommand(cmd *Command) (string, map[string]any) {
	if status, fields, ok := d.answerProfile(cmd); ok {
		return status, fields
	}
	if cmd.RequestType == "RotateFileVaultKey" {
		return d.rotateFileVaultKey(cmd)
	}
	return mdmproto.StatusAcknowledged, d.DefaultResult(cmd)
}
