//! KDC location.
