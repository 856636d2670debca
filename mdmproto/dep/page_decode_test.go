package dep

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// FuzzDevicePageJSON holds decodeAnswer to encoding/json's results, errors included.
func FuzzDevicePageJSON(f *testing.F) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	page, err := json.Marshal(DevicePage{Cursor: "MTIzNDU2", MoreToFollow: true, FetchedUntil: &at, Devices: []Device{
		{SerialNumber: "C02XL0AAJGH5", Model: "MacBook Air", Description: "MBA 13.6 M2", Color: "MIDNIGHT",
			OS: "OSX", DeviceFamily: "Mac", ProfileStatus: ProfileAssigned, ProfileUUID: "88ED9F7A3E6B4C2D",
			ProfileAssignTime: &at, DeviceAssignedDate: &at, DeviceAssignedBy: "admin@example.com", OpType: OpAdded, OpDate: &at},
		{SerialNumber: "DMPXL0AAJGH6", ProfileStatus: ProfileEmpty},
	}})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(page),
		`{"devices":[],"cursor":"","more_to_follow":false}`,
		`  null `,
		`{"devices":null,"more_to_follow":null,"fetched_until":null,"cursor":null}`,
		`{"devices":[null,{"serial_number":null,"op_date":null}]}`,
		`{"Devices":[{"SERIAL_NUMBER":"A","ſerial_number":"B"}],"CURSOR":"x","cursor":"y"}`,
		`{"unknown":{"a":[1,2.5e3,true,false,null,"\"}"]},"devices":[{"extra":[{}],"model":"M\u00e9 \ud83d\ude00"}]}`,
		"{\"cursor\":\"caf\xc3\xa9 \xff\",\"devices\":[{\"color\":\"tab\\there\"}]}",
		`{"fetched_until":"2026-01-02T03:04:05.123+02:00","devices":[{"profile_push_time":"2026-13-02T03:04:05Z"}]}`,
		`{"fetched_until":"2026-01-02T03:04:0\u0035Z"}`,
		`{"devices":[{"serial_number":1}]}`,
		`{"more_to_follow":"true"}`,
		`{"devices":{}}`,
		`{"cursor":"a",}`,
		`{"cursor":"a"} x`,
		`{"x":tru}`,
		`{"x":[1,2}`,
		`[]`,
		`{"devices":[{"serial_number":"A"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want DevicePage
		wantErr := json.Unmarshal(data, &want)
		var got DevicePage
		gotErr := decodeAnswer(data, &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%q: encoding/json says %v, decodeAnswer says %v", data, wantErr, gotErr)
		}
		if wantErr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("%q:\nencoding/json %+v\ndecodeAnswer %+v", data, want, got)
		}
	})
}

// BenchmarkDevicePageJSON decodes a page of 1,000 devices as Apple sends it,
// with decodeAnswer and, to compare, with encoding/json.
//
//	go test -run '^$' -bench DevicePageJSON -benchmem ./mdmproto/dep/
func BenchmarkDevicePageJSON(b *testing.B) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	page := DevicePage{Cursor: "MTIzNDU2", MoreToFollow: true, FetchedUntil: &at}
	for i := range MaxPage {
		page.Devices = append(page.Devices, Device{SerialNumber: fmt.Sprintf("SIM%09d", i), Model: "MacBook Air",
			Description: "MBA 13.6 M2", Color: "SILVER", OS: "OSX", DeviceFamily: "Mac", ProfileStatus: ProfileEmpty,
			DeviceAssignedDate: &at, DeviceAssignedBy: "admin@example.com"})
	}
	data, err := json.Marshal(page)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decodeAnswer", func(b *testing.B) {
		for b.Loop() {
			p := DevicePage{Devices: make([]Device, 0, MaxPage)}
			if err := decodeAnswer(data, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			p := DevicePage{Devices: make([]Device, 0, MaxPage)}
			if err := json.Unmarshal(data, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
