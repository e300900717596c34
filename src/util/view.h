/* view.h - what a view remembers of the backend that made it. */
#ifndef WOM_VIEW_H
#define WOM_VIEW_H

#include <stdint.h>

#include "wom.h"

/* A view's pin_[0] points at one of these (its low 3 bits are the
 * backend's), so wom_view_release reaches the backend that made the view
 * whatever scope that was. pin_[0] == 0: the view holds nothing. */
struct wom__view_owner {
    void (*release)(wom_view *v); /* never fails, never blocks */
};

/* The owner pin_[0] names (pin_[0] != 0). */
static inline const struct wom__view_owner *wom__view_owner_of(uint64_t pin0)
{
    return (const struct wom__view_owner *)(uintptr_t)(pin0 & ~(uint64_t)7);
}

static inline void wom__view_release(wom_view *v)
{
    if (v->pin_[0])
        wom__view_owner_of(v->pin_[0])->release(v);
}

#endif
