/*
 * lab/context_sites.h — live patch sites on the NMI, #MC and IRQ paths.
 *
 * nmi_handle(), mce_handle() and irq_dispatch() each call their *_site_run()
 * on every entry. Each is one 5-byte site, "call count_<path>_a" or
 * "call count_<path>_b", counting into percpu->site_hits[path][a or b], so
 * the storm tests can flip the site while the path runs, and check that
 * every entry went through exactly one of the two variants. The sites live
 * outside the no-patch region on purpose: the handlers that call them are
 * in it, so hitting these sites mid-patch goes through the #BP path.
 */
#ifndef XPOKE_LAB_CONTEXT_SITES_H
#define XPOKE_LAB_CONTEXT_SITES_H

enum { SITE_NMI, SITE_MCE, SITE_IRQ };

void nmi_site_run(void);
void mce_site_run(void);
void irq_site_run(void);

#endif
