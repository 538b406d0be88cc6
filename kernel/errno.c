/*
 * kernel/errno.c — names for error codes (the livepatch loader's LP_E*
 * codes by lp_errname).
 */
#include "kernel/errno.h"
#include "clients/livepatch/livepatch.h"

const char *errno_name(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "OK";
	case EIO: return "EIO";
	case ENOMEM: return "ENOMEM";
	case EBUSY: return "EBUSY";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ERANGE: return "ERANGE";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EABORTED: return "EABORTED";
	case EREPORTED: return "EREPORTED";
	default: return lp_errname(err) ? lp_errname(err) : "E?";
	}
}
