package handlers_test

import (
	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

// The memory adapters implement every port the handlers declare (wire.go
// checks the AWS adapters): the tests run the handlers on them.
var (
	_ handlers.Groups           = (*memory.Groups)(nil)
	_ handlers.ResolverFleet    = (*memory.Fleet)(nil)
	_ handlers.ResolverRecords  = (*memory.Records)(nil)
	_ handlers.ResolverGroups   = (*memory.Groups)(nil)
	_ handlers.HistoryAdder     = (*memory.History)(nil)
	_ handlers.DeadLetterWriter = (*memory.DeadLetters)(nil)
	_ handlers.ForecastGroups   = (*memory.Groups)(nil)
	_ handlers.ForecastHistory  = (*memory.History)(nil)
	_ handlers.ForecastStates   = (*memory.States)(nil)
	_ handlers.AuditWriter      = (*memory.Audit)(nil)
)
