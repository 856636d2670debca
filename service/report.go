package service

import (
	"context"
	"maps"
	"slices"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// ReportResult stores a device's answer to a command it was sent and gives
// its next command; found is false for an answer to a command it was not
// sent (changing nothing). Most answers take one statement
// (store.QuickReport); answers orchard acts on, or seals, take a
// transaction that stores and processes them together.
func (s *Service) ReportResult(ctx context.Context, ch mdmproto.Channel, r mdmproto.CommandResult) (next mdmproto.NextCommand, found bool, err error) {
	quick, err := s.store.QuickReport(ctx, ch, r, reportPlan(r))
	if err != nil {
		return quick.Next, false, err
	}
	if quick.Deferred == "" {
		s.publishCommitted(ctx, statusEvents(quick.Answered, quick.Next, r.Status)...)
		return quick.Next, quick.Answered != nil, nil
	}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		next, found, err = s.reportResultInTx(ctx, q, ch, r, quick.Deferred)
		if err != nil || !found {
			return err
		}
		return s.profileReportHook(ctx, q, ch, r)
	})
	return next, found, err
}

// deferredAnswers are the request types whose answers QuickReport leaves to
// the transaction: those orchard acts on (answerHandlers), reads facts from,
// or seals. withFactsRead is the same without DeviceInformation, whose facts
// and inventory mark QuickReport applies itself once reportPlan read them.
var (
	deferredAnswers = deferredAnswerTypes()
	withFactsRead   = slices.DeleteFunc(slices.Clone(deferredAnswers), func(t string) bool { return t == "DeviceInformation" })
)

func deferredAnswerTypes() []string {
	types := slices.Collect(maps.Keys(answerHandlers))
	types = append(types, mdmproto.ResultSecretTypes()...)
	types = append(types, mdmproto.FactRequestTypes()...)
	slices.Sort(types)
	return slices.Compact(types)
}

// reportPlan reads, before the database is asked, the DeviceInformation
// facts an answer may carry, so the one statement can apply them (with the
// inventory mark answerHandlers["DeviceInformation"] would set) if the
// command it answers turns out to be a DeviceInformation.
func reportPlan(r mdmproto.CommandResult) store.ReportPlan {
	plan := store.ReportPlan{Deferred: deferredAnswers}
	if r.Status != mdmproto.StatusAcknowledged || !mdmproto.MayHoldFacts(r.JSON) {
		return plan
	}
	facts, ok := mdmproto.FactsFromResult("DeviceInformation", r.JSON)
	if !ok {
		return plan
	}
	return store.ReportPlan{Deferred: withFactsRead, FactsType: "DeviceInformation", Facts: facts, Inventory: true}
}
