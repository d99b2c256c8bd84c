package folder

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

type attrRole struct {
	attr imap.MailboxAttr
	role Role
}

// attrRoles lists the RFC 6154 special-use attributes in the order RoleOf
// tries them, plus \Important from RFC 8457 (Gmail sends it).
var attrRoles = []attrRole{
	{imap.MailboxAttrSent, RoleSent},
	{imap.MailboxAttrDrafts, RoleDrafts},
	{imap.MailboxAttrTrash, RoleTrash},
	{imap.MailboxAttrJunk, RoleJunk},
	{imap.MailboxAttrArchive, RoleArchive},
	{imap.MailboxAttrAll, RoleAll},
	{imap.MailboxAttrFlagged, RoleFlagged},
	{imap.MailboxAttrImportant, RoleImportant},
}

// wellKnown holds the names that clients and servers in common use give to
// each special folder when the server does not send SPECIAL-USE attributes.
// They are compared case-insensitively with the whole display path, so only
// top-level folders match, apart from Gmail's "[Gmail]/…" entries. Within a
// role the order matters: when the destination has several candidates, the
// earlier name wins.
var wellKnown = []struct {
	role  Role
	names []string
}{
	{RoleSent, []string{
		"Sent", "Sent Items", "Sent Messages", "Sent Mail",
		"[Gmail]/Sent Mail", "[Google Mail]/Sent Mail",
		"Gesendet", "Gesendete Elemente", "Gesendete Objekte",
		"Envoyés", "Éléments envoyés", "Messages envoyés",
		"Enviados", "Elementos enviados", "Itens enviados",
		"Posta inviata", "Inviati",
		"Verzonden items", "Verzonden",
		"Skickat", "Sendt", "Wysłane",
		"Отправленные", "已发送",
	}},
	{RoleDrafts, []string{
		"Drafts", "[Gmail]/Drafts", "[Google Mail]/Drafts",
		"Entwürfe", "Brouillons", "Borradores", "Rascunhos", "Bozze",
		"Concepten", "Utkast", "Kladder", "Черновики", "草稿",
	}},
	{RoleTrash, []string{
		"Trash", "Deleted Items", "Deleted Messages", "Bin",
		"[Gmail]/Trash", "[Gmail]/Bin", "[Google Mail]/Trash", "[Google Mail]/Bin",
		"Papierkorb", "Gelöschte Elemente", "Gelöschte Objekte",
		"Corbeille", "Éléments supprimés",
		"Papelera", "Elementos eliminados", "Lixeira", "Itens excluídos",
		"Cestino", "Prullenbak", "Verwijderde items", "Papperskorgen", "Kosz",
		"Корзина", "已删除",
	}},
	{RoleJunk, []string{
		"Junk", "Junk E-mail", "Junk Email", "Spam", "Bulk Mail",
		"[Gmail]/Spam", "[Google Mail]/Spam",
		"Junk-E-Mail", "Courrier indésirable", "Correo no deseado",
		"Posta indesiderata", "Ongewenste e-mail", "Skräppost",
		"Спам", "垃圾邮件",
	}},
	{RoleArchive, []string{
		"Archive", "Archives", "Archiv", "Archivio", "Archivo", "Archief", "Архив",
	}},
	{RoleAll, []string{"[Gmail]/All Mail", "[Google Mail]/All Mail", "All Mail"}},
	{RoleFlagged, []string{"[Gmail]/Starred", "[Google Mail]/Starred"}},
	{RoleImportant, []string{"[Gmail]/Important", "[Google Mail]/Important"}},
}

// nonMail holds the top-level folders that Exchange, Outlook and Zimbra show
// over IMAP for calendars, contacts, tasks and their own bookkeeping. Their
// "messages" are items that mean nothing to another server.
var nonMail = []string{
	"Calendar", "Contacts", "Tasks", "Journal", "Notes", "Outbox",
	"Sync Issues", "Conversation History", "RSS Feeds", "RSS Subscriptions",
	"Emailed Contacts", "Briefcase", "Chats", "Suggested Contacts",
	"Social Activity Notifications", "Quick Step Settings", "Yammer Root", "Files",
	// German
	"Kalender", "Kontakte", "Aufgaben", "Notizen", "Postausgang", "Synchronisierungsprobleme",
	// French
	"Calendrier", "Tâches", "Boîte d'envoi", "Problèmes de synchronisation",
	// Spanish
	"Calendario", "Contactos", "Tareas", "Notas", "Diario", "Bandeja de salida",
	// Italian
	"Contatti", "Attività", "Note", "Posta in uscita",
	// Dutch
	"Agenda", "Contactpersonen", "Taken", "Notities", "Postvak UIT",
}

var (
	wellKnownRole = map[string]Role{} // lower-cased name → role
	nonMailSet    = map[string]bool{} // lower-cased name
)

func init() {
	for _, wk := range wellKnown {
		for _, n := range wk.names {
			wellKnownRole[strings.ToLower(n)] = wk.role
		}
	}
	for _, n := range nonMail {
		nonMailSet[strings.ToLower(n)] = true
	}
}

// roleTitle is the canonical English folder name for a role, used when the
// destination has no folder for it yet.
var roleTitle = map[Role]string{
	RoleSent:    "Sent",
	RoleDrafts:  "Drafts",
	RoleTrash:   "Trash",
	RoleJunk:    "Junk",
	RoleArchive: "Archive",
}

func roleAttr(r Role) imap.MailboxAttr {
	for _, ar := range attrRoles {
		if ar.role == r {
			return ar.attr
		}
	}
	return ""
}

// hasRoleAttr reports whether attrs has any attribute that gives a role.
func hasRoleAttr(attrs []imap.MailboxAttr) bool {
	return slices.ContainsFunc(attrRoles, func(ar attrRole) bool { return hasAttr(attrs, ar.attr) })
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}
