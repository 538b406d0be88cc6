; lab/context_sites_code.asm — the live patch sites that the NMI, #MC and
; IRQ paths run on every entry (see lab/context_sites.h).
;
; *_site_run — one site: a 5-byte call to the "a" or "b" counter.
;   IN: nothing. OUT: nothing. Clobbers: nothing but flags (the counters
;   are a GS-relative INC: per-CPU, no lock needed).

%include "asm-offsets.inc"

section .text

%macro CONTEXT_SITE 2                   ; name, index into percpu->site_hits
global %1_site_run, %1_site, count_%1_a, count_%1_b
%1_site_run:
%1_site:
        call count_%1_a
        ret
count_%1_a:
        inc qword [gs:PC_SITE_HITS + 16 * %2 + 0]
        ret
count_%1_b:
        inc qword [gs:PC_SITE_HITS + 16 * %2 + 8]
        ret
%endmacro

CONTEXT_SITE nmi, 0
CONTEXT_SITE mce, 1
CONTEXT_SITE irq, 2
