/*
 * clients/poke/text_crc.h — a CRC-32 of all of kernel .text, taken under
 * text_lock so that it never sees half of a batch: shows that refused
 * requests changed nothing, and that a patch and its undo leave .text as
 * it was (console text-crc; the tracer's tests).
 */
#ifndef XPOKE_CLIENTS_POKE_TEXT_CRC_H
#define XPOKE_CLIENTS_POKE_TEXT_CRC_H

#include <stdint.h>

/* Thread context, IRQs on. */
uint32_t text_crc(void);

#endif
