//! A column decoded into its typed buffer: `Vec<T>` behind `dyn Any`, so
//! that the snapshot code can carry values of a type it does not name.

use std::any::{Any, TypeId};

/// A column decoded into its typed buffer (`Vec<T>` behind `dyn Any`).
pub struct DecodedColumn {
    vec: Box<dyn ErasedVec>,
    type_id: TypeId,
}

impl std::fmt::Debug for DecodedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedColumn")
            .field("len", &self.vec.len())
            .finish()
    }
}

impl DecodedColumn {
    /// A column of these values.
    pub fn from_vec<T: Send + 'static>(values: Vec<T>) -> Self {
        Self::new(values)
    }

    pub(super) fn new<T: Send + 'static>(values: Vec<T>) -> Self {
        DecodedColumn {
            vec: Box::new(values),
            type_id: TypeId::of::<T>(),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.vec.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.vec.len() == 0
    }

    /// The type of the values.
    pub fn value_type(&self) -> TypeId {
        self.type_id
    }

    /// Appends another column of the same type.
    ///
    /// # Panics
    /// If `other` holds values of another type (a broken invariant: pieces
    /// of one column come from one registration).
    pub fn append(&mut self, other: DecodedColumn) {
        assert_eq!(
            self.type_id, other.type_id,
            "pieces of one column share a type"
        );
        self.vec.append(other.vec);
    }

    /// Keeps the values at `order` (indices into this column), in that
    /// order; the others are dropped.
    pub fn reorder(&mut self, order: &[usize]) {
        self.vec.reorder(order);
    }

    /// The typed buffer, if it holds `T`s.
    pub fn into_vec<T: 'static>(self) -> Option<Vec<T>> {
        self.vec.into_any().downcast::<Vec<T>>().ok().map(|b| *b)
    }

    /// Base pointer and item size, for moving values out by pointer. After
    /// the values are moved out, call [`DecodedColumn::forget_values`].
    /// The values, if they are `T`s.
    pub(super) fn values_mut<T: 'static>(&mut self) -> Option<&mut Vec<T>> {
        self.vec.as_mut().as_any_mut().downcast_mut::<Vec<T>>()
    }

    pub(crate) fn raw_parts(&mut self) -> (*mut u8, usize) {
        (self.vec.base(), self.vec.stride())
    }

    /// Forgets the values (they were moved out by pointer).
    ///
    /// # Safety
    /// Every value must have been moved out, or may be leaked.
    pub(crate) unsafe fn forget_values(&mut self) {
        self.vec.forget_items();
    }
}

trait ErasedVec: Send {
    fn len(&self) -> usize;
    fn base(&mut self) -> *mut u8;
    fn stride(&self) -> usize;
    fn forget_items(&mut self);
    fn append(&mut self, other: Box<dyn ErasedVec>);
    fn reorder(&mut self, order: &[usize]);
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Send + 'static> ErasedVec for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn base(&mut self) -> *mut u8 {
        self.as_mut_ptr().cast()
    }
    fn stride(&self) -> usize {
        size_of::<T>()
    }
    fn forget_items(&mut self) {
        // SAFETY: shrinking the length never exposes uninitialized values; the
        // caller moved the values out.
        unsafe { self.set_len(0) }
    }
    fn append(&mut self, other: Box<dyn ErasedVec>) {
        if let Ok(mut other) = other.into_any().downcast::<Vec<T>>() {
            Vec::append(self, &mut other);
        }
    }
    fn reorder(&mut self, order: &[usize]) {
        let mut slots: Vec<Option<T>> = std::mem::take(self).into_iter().map(Some).collect();
        *self = order
            .iter()
            .filter_map(|&i| slots.get_mut(i)?.take())
            .collect();
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
