package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// EventLog is the log of published events (internal/events): one row per event, written
// in the transaction that publishes it, by the same statement as its NOTIFY. An instance
// whose listening connection was lost reads what it missed from here when it listens
// again. Rows are kept for minutes only (events.Retention); nothing reads them through ent.
type EventLog struct {
	ent.Schema
}

// Annotations of the EventLog.
func (EventLog) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "event_log"}}
}

// Fields of the EventLog. created_at is the database's clock when the row was written,
// not the transaction's start, so that it is close to the commit.
func (EventLog) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Immutable(),
		field.Text("payload").Immutable(),
	}
}

// Indexes of the EventLog: by time, for the replay's window and the pruning.
func (EventLog) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at"),
	}
}
