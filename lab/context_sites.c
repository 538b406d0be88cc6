/*
 * lab/context_sites.c — the NMI, #MC and IRQ sites as named sites
 * (`sites`, `patch nmi b`, storms).
 */
#include "clients/sites/sites.h"
#include "lab/context_sites.h"

struct lab_cpu lab_cpu[MAX_CPUS];

extern const char nmi_site[], mce_site[], irq_site[], nmi_value_site[], mce_value_site[];
extern const char count_nmi_a[], count_nmi_b[], count_mce_a[], count_mce_b[], count_irq_a[], count_irq_b[];

PATCH_SITE(nmi, "run by every NMI: counts it as a or b", nmi_site, 5,
	   V_CALL("a", count_nmi_a), V_CALL("b", count_nmi_b));
PATCH_SITE(nmi_value, "run by every NMI: mov eax, A or B (every byte differs): neither is a torn execution",
	   nmi_value_site, 5, V_MOV_EAX("a", VALUE_A), V_MOV_EAX("b", VALUE_B));
PATCH_SITE(mce, "run by every #MC: counts it as a or b", mce_site, 5,
	   V_CALL("a", count_mce_a), V_CALL("b", count_mce_b));
PATCH_SITE(mce_value, "run by every #MC: mov eax, A or B, as nmi_value", mce_value_site, 5,
	   V_MOV_EAX("a", VALUE_A), V_MOV_EAX("b", VALUE_B));
PATCH_SITE(irq, "run by every interrupt: counts it as a or b", irq_site, 5,
	   V_CALL("a", count_irq_a), V_CALL("b", count_irq_b));
