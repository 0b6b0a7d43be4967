// procreg::events internal: reads the event layout (events/codec.cc) through a Decoder.
//
// Thread safety: as the Decoder's.
#pragma once

#include "events/decoder.h"
#include "procreg/event.h"

namespace procreg::events {

// Reads one event at the decoder's position into *event. Returns false after the decoder has
// recorded the error; *event is then partly written and must be discarded.
bool read_event(Decoder& decoder, Event* event);

}  // namespace procreg::events
