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
	if err := db.SaveFolders(ctx, []*Folder{f}, nil); err != nil {
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
	folders, err := db.Folders(ctx, f.Mailbox)
	if err != nil || len(folders) != 1 || folders[0] != *f {
		t.Fatalf("Folders() = %+v, %v; want %+v alone", folders, err, f)
	}
	gotMsgs, err := db.Messages(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs[1].Flags = []string{}
	if !reflect.DeepEqual(gotMsgs, msgs) {
		t.Errorf("Messages() = %+v; want %+v", gotMsgs, msgs)
	}
	// What a pass keeps: no fingerprint where the destination UID tells
	// the copy; new flags written alone keep the fingerprints.
	rec, err := db.Recorded(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{{SourceUID: 1, DestUID: 10, Flags: []string{`\Seen`, "$label1"}}, {SourceUID: 2, Flags: []string{}, Fingerprint: "bb"}}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("Recorded() = %+v; want %+v", rec, want)
	}
	if err := db.SaveFolders(ctx, nil, map[*Folder][]Message{f: {{SourceUID: 1, Flags: []string{`\Flagged`}}}}); err != nil {
		t.Fatal(err)
	}
	msgs[0].Flags = []string{`\Flagged`}
	if gotMsgs, err := db.Messages(ctx, f.ID); err != nil || !reflect.DeepEqual(gotMsgs, msgs) {
		t.Errorf("after SaveFolders with flags, Messages() = %+v, %v; want %+v", gotMsgs, err, msgs)
	}
	fig := Figures{ModSeq: 42, UIDNext: 3, Messages: 2}
	if err := db.SettleFolders(ctx, map[int64]Figures{f.ID: fig}); err != nil {
		t.Fatal(err)
	}
	if folders, err := db.Folders(ctx, f.Mailbox); err != nil || folders[0].Settled != fig {
		t.Errorf("after SettleFolders, Folders() = %+v, %v; want settled %+v", folders, err, fig)
	}
	if err := db.ResetFolder(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if gotMsgs, _ := db.Messages(ctx, f.ID); len(gotMsgs) != 0 {
		t.Errorf("after ResetFolder, Messages() = %+v; want none", gotMsgs)
	}
}
