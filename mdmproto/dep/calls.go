package dep

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// MaxPage is the largest page Apple serves for fetch and sync, and the most
// serials one details, assign or remove call takes.
const MaxPage = 1000

// Account returns the virtual server and organisation of the token.
func (c *Client) Account(ctx context.Context) (*Account, error) {
	var a Account
	if err := c.call(ctx, "account", http.MethodGet, "/account", nil, &a); err != nil {
		return nil, err
	}
	if a.ServerUUID == "" {
		return nil, fmt.Errorf("dep account: answer without server_uuid")
	}
	return &a, nil
}

// FetchDevices returns one page of every device of the server. Start with an
// empty cursor; continue with the returned one while MoreToFollow.
func (c *Client) FetchDevices(ctx context.Context, limit int, cursor string) (*DevicePage, error) {
	p := DevicePage{Devices: make([]Device, 0, pageRoom(limit))}
	err := c.call(ctx, "fetch devices", http.MethodPost, "/server/devices", DeviceRequest{Limit: limit, Cursor: cursor}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// pageRoom is the room a page of limit devices is decoded into, so the list
// does not grow by copies; Apple serves at most MaxPage.
func pageRoom(limit int) int {
	return min(max(limit, 0), MaxPage)
}

// SyncDevices returns the changes since the cursor of a finished fetch or sync.
func (c *Client) SyncDevices(ctx context.Context, limit int, cursor string) (*DevicePage, error) {
	if cursor == "" {
		return nil, fmt.Errorf("dep sync devices: a cursor is required")
	}
	p := DevicePage{Devices: make([]Device, 0, pageRoom(limit))}
	err := c.call(ctx, "sync devices", http.MethodPost, "/devices/sync", DeviceRequest{Limit: limit, Cursor: cursor}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// DeviceDetails returns Apple's details of up to MaxPage serial numbers, keyed
// by serial; unknown serials have ResponseStatus NOT_ACCESSIBLE.
func (c *Client) DeviceDetails(ctx context.Context, serials []string) (map[string]Device, error) {
	if err := checkSerials(serials); err != nil {
		return nil, fmt.Errorf("dep device details: %w", err)
	}
	var out struct {
		Devices map[string]Device `json:"devices"`
	}
	err := c.call(ctx, "device details", http.MethodPost, "/devices", map[string][]string{"devices": serials}, &out)
	return out.Devices, err
}

// DefineProfile defines a profile and assigns it to p.Devices, if any.
func (c *Client) DefineProfile(ctx context.Context, p *Profile) (*ProfileResult, error) {
	if p.ProfileName == "" || p.URL == "" {
		return nil, fmt.Errorf("dep define profile: profile_name and url are required")
	}
	var r ProfileResult
	if err := c.call(ctx, "define profile", http.MethodPost, "/profile", p, &r); err != nil {
		return nil, err
	}
	if r.ProfileUUID == "" {
		return nil, fmt.Errorf("dep define profile: answer without profile_uuid")
	}
	return &r, nil
}

// GetProfile returns a defined profile.
func (c *Client) GetProfile(ctx context.Context, uuid string) (*Profile, error) {
	var p Profile
	err := c.call(ctx, "get profile", http.MethodGet, "/profile?profile_uuid="+url.QueryEscape(uuid), nil, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// AssignProfile assigns a defined profile to devices.
func (c *Client) AssignProfile(ctx context.Context, uuid string, serials []string) (*ProfileResult, error) {
	if err := checkSerials(serials); err != nil {
		return nil, fmt.Errorf("dep assign profile: %w", err)
	}
	var r ProfileResult
	body := map[string]any{"profile_uuid": uuid, "devices": serials}
	if err := c.call(ctx, "assign profile", http.MethodPut, "/profile/devices", body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RemoveProfile removes the profile assignment of devices.
func (c *Client) RemoveProfile(ctx context.Context, serials []string) (*ProfileResult, error) {
	if err := checkSerials(serials); err != nil {
		return nil, fmt.Errorf("dep remove profile: %w", err)
	}
	var r ProfileResult
	body := map[string]any{"devices": serials}
	if err := c.call(ctx, "remove profile", http.MethodDelete, "/profile/devices", body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func checkSerials(serials []string) error {
	if len(serials) == 0 || len(serials) > MaxPage {
		return fmt.Errorf("between 1 and %d serial numbers are required, not %d", MaxPage, len(serials))
	}
	for _, s := range serials {
		if s == "" {
			return fmt.Errorf("empty serial number")
		}
	}
	return nil
}
