//! The systems compared, by name: which one a figure is of, its column
//! header and what its factor is measured against.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Floor,
    FloorOnRead,
    Pgkv,
    PgkvManual,
    Legacy,
    Redis,
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Floor,
        Kind::FloorOnRead,
        Kind::Pgkv,
        Kind::PgkvManual,
        Kind::Legacy,
        Kind::Redis,
    ];

    pub(crate) fn header(self) -> &'static str {
        match self {
            Kind::Floor => "floor (sqlx, 1 conn)",
            Kind::FloorOnRead => "floor, OnRead SQL",
            Kind::Pgkv => "pgkv 0.2 (OnRead)",
            Kind::PgkvManual => "pgkv 0.2, Manual TTL",
            Kind::Legacy => "pgkv 0.1",
            Kind::Redis => "Redis",
        }
    }

    /// The tag in the names of this system's tables.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Kind::Floor => "floor",
            Kind::FloorOnRead => "flooro",
            Kind::Pgkv => "pgkv",
            Kind::PgkvManual => "pgkvm",
            Kind::Legacy => "legacy",
            Kind::Redis => "redis",
        }
    }

    /// What this system's factor is measured against: pgkv's default config
    /// against the floor doing the same SQL work, everything else against
    /// the plain floor.
    pub(crate) fn baseline(self) -> Kind {
        match self {
            Kind::Pgkv => Kind::FloorOnRead,
            _ => Kind::Floor,
        }
    }

    pub(crate) fn index(self) -> usize {
        Kind::ALL
            .iter()
            .position(|k| *k == self)
            .expect("every kind is listed")
    }
}
