package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	f := &Folder{Mailbox: "a@src -> a@dst", SourceName: "INBOX", SourceUIDValidity: 7, DestName: "INBOX", DestUIDValidity: 9}
	if err := db.SaveFolder(ctx, f); err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{SourceUID: 1, DestUID: 10, Flags: []string{`\Seen`, "$label1"}, Fingerprint: "aa"}, {SourceUID: 2, Fingerprint: "bb"}}
	if err := db.PutMessages(ctx, f.ID, msgs); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Reopen: the schema upgrade is idempotent and the data is there.
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Folder(ctx, f.Mailbox, "INBOX")
	if err != nil || got == nil || *got != *f {
		t.Fatalf("Folder() = %+v, %v; want %+v", got, err, f)
	}
	gotMsgs, err := db.Messages(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs[1].Flags = []string{}
	if !reflect.DeepEqual(gotMsgs, msgs) {
		t.Errorf("Messages() = %+v; want %+v", gotMsgs, msgs)
	}
	if none, err := db.Folder(ctx, f.Mailbox, "Sent"); none != nil || err != nil {
		t.Errorf("Folder(Sent) = %+v, %v; want nil, nil", none, err)
	}
	if err := db.ResetFolder(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if gotMsgs, _ := db.Messages(ctx, f.ID); len(gotMsgs) != 0 {
		t.Errorf("after ResetFolder, Messages() = %+v; want none", gotMsgs)
	}
}
